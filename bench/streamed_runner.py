"""The local runner made to stream what it hands its workers, as a shuffle service does: for
benchmarks that measure how a worker's memory grows with N (bench/scale_plan.py).

As shipped, Beam's local FnApiRunner makes every worker hold its whole share of a stage's input,
whatever the pipeline's DoFns do: it keeps each worker's share of a GroupByKey's output as one
blob and sends a bundle's input as one data-plane message; a worker may queue 100 MB of its own
output; and gRPC's flow-control window grows while the runner pushes faster than the worker
reads. `stream_handoffs()`, called in the runner process before a pipeline runs, cuts those
hand-offs into pieces of about 1 MB and starts its workers through this file (`bench_worker`),
which bounds their side the same way. Elements, order and bundles are unchanged, and the runner
process still holds every PCollection between stages, as the shuffle service does on Dataflow.

This patches Beam 2.77's private runner classes (constraints.txt pins it); benchmarks only.

    python bench/streamed_runner.py --sdk_worker PIECE_BYTES   (how the runner starts a worker)
"""
from __future__ import annotations

import os
import sys
import threading

MESSAGES_SENT = [0]  # data-plane messages the streamed runner sent to workers (for its test)


def stream_handoffs(piece_bytes: int = 1 << 20) -> None:
    """Patches this process's local runner (see above): GroupByKey outputs cut at element
    boundaries into pieces of about piece_bytes, each sent as its own message on a thread beside
    the runner's, and workers started through `bench_worker`. Call before the pipeline runs."""
    from apache_beam.coders.coder_impl import create_InputStream
    from apache_beam.runners.portability.fn_api_runner import execution, fn_runner
    from apache_beam.transforms import environments

    def pieces(blob: bytes, coder_impl):
        stream, start, total = create_InputStream(blob), 0, len(blob)
        while stream.size() > 0:
            coder_impl.decode_from_stream(stream, True)
            end = total - stream.size()
            if end - start >= piece_bytes:
                yield blob[start:end]
                start = end
        if start < total:
            yield blob[start:]

    grouped_partition = execution.GroupingBuffer.partition

    def partition(self, n):
        first = not self._grouped_output
        parts = grouped_partition(self, n)
        if first:  # cut once; the runner re-reads the same partition on a retry
            impl = self._post_grouped_coder.get_impl()
            self._grouped_output = parts = [[p for blob in part for p in pieces(blob, impl)]
                                            for part in parts]
        return parts

    def send_input_to_worker(self, process_bundle_id, read_transform_id, byte_streams):
        data_out = self._worker_handler.data_conn.output_stream(process_bundle_id,
                                                                read_transform_id)

        def send():
            for byte_stream in byte_streams or []:
                data_out.write(byte_stream)
                data_out.flush()  # one message per piece, not one per bundle
                MESSAGES_SENT[0] += 1
            data_out.close()

        # The runner sends a bundle's input before the request to process it; the worker's
        # receive queue is bounded, so a stream of pieces must flow while the worker processes
        # them: sent beside the runner's thread, which goes on to push the request.
        threading.Thread(target=send, name=f"send-{process_bundle_id}", daemon=True).start()

    execution.GroupingBuffer.partition = partition
    fn_runner.BundleManager._send_input_to_worker = send_input_to_worker

    stock_worker = "-m apache_beam.runners.worker.sdk_worker_main"
    from_command_string = environments.SubprocessSDKEnvironment.from_command_string

    def worker_command(command_string, *args, **kwargs):  # workers: bench_worker() first
        if command_string.endswith(stock_worker):
            command_string = (command_string[:-len(stock_worker)]
                              + f"{os.path.abspath(__file__)} --sdk_worker {piece_bytes}")
        return from_command_string(command_string, *args, **kwargs)

    environments.SubprocessSDKEnvironment.from_command_string = worker_command


def bench_worker(piece_bytes: int) -> None:
    """An SDK worker process whose data plane holds a bounded number of pieces of about
    piece_bytes: it flushes its outputs at piece_bytes (Beam: 10 MB), queues at most 4 pieces to
    send (Beam: 100 MB), and its gRPC channels keep a fixed flow-control window (no BDP probing:
    with it, the window grows while the runner pushes faster than the worker reads, and the
    pushed bytes wait in gRPC's buffers: measured ~16 B per input between 10^6 and 10^7). Beam's
    own send bound is reached only far above the bench's sizes; these are reached at them."""
    import grpc
    from apache_beam.runners.worker import data_plane, sdk_worker_main

    data_plane._DEFAULT_SEND_QUEUE_MAX_BYTES = 4 * piece_bytes
    stream = data_plane.SizeBasedBufferingClosableOutputStream.__init__
    defaults = list(stream.__defaults__)
    defaults[-2] = piece_bytes  # size_flush_threshold
    stream.__defaults__ = tuple(defaults)
    channel = grpc.insecure_channel

    def insecure_channel(target, options=None, *args, **kwargs):  # no window growth (BDP probe)
        return channel(target, list(options or []) + [("grpc.http2.bdp_probe", 0)], *args,
                       **kwargs)

    grpc.insecure_channel = insecure_channel
    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    if sys.argv[1:2] != ["--sdk_worker"]:
        raise SystemExit(__doc__)
    bench_worker(int(sys.argv[2]))
