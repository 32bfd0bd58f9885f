"""Network guard for tests: any attempt to resolve or connect to an address off this machine
fails loudly instead of going out. Installed in the test process by tests/conftest.py and, through
PYTHONPATH, in every Python subprocess the tests start."""
import socket

_LOCAL_NAMES = {"localhost", "ip6-localhost", "::1", ""}


def _is_local(host) -> bool:
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    return host in _LOCAL_NAMES or host.startswith("127.") or host == "0.0.0.0"


_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _is_local(host):
        raise OSError(f"test network guard: refused to resolve {host!r} (off this machine)")
    return _real_getaddrinfo(host, *args, **kwargs)


def _check_address(address):
    if isinstance(address, tuple) and not _is_local(address[0]):
        raise OSError(f"test network guard: refused to connect to {address!r}")


def _guarded_connect(self, address):
    _check_address(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    _check_address(address)
    return _real_connect_ex(self, address)


_guarded_getaddrinfo.cutout_guard = True
socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex


