"""remove_background's input resolution: lines of an --input_list."""
from pipelines import rb_inputs


def test_list_lines():
    assert rb_inputs.resolve_list_line("  gs://b/x.jpg \r", "/root") == ["gs://b/x.jpg"]
    assert rb_inputs.resolve_list_line("/abs/x.jpg", "/root") == ["/abs/x.jpg"]
    assert rb_inputs.resolve_list_line("sub/x.jpg", "gs://b/root/") == ["gs://b/root/sub/x.jpg"]
    assert rb_inputs.resolve_list_line("   ", "/root") == []
