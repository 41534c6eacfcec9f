"""The package's exceptions: every message is one line, whatever text it quotes."""

from __future__ import annotations

from crbm.engine.errors import CRBMError, DivergenceError, FormatError, one_line


def test_messages_quoting_several_lines_become_one():
    """pyarrow's and torch's messages span lines; quoted in a crbm error they become one line."""
    quoted = "Couldn't deserialize thrift: TProtocolException: Invalid data\nDeserializing page header failed.\n"
    assert str(FormatError("a.parquet", f"cannot read Parquet data: OSError: {quoted}")) == (
        "a.parquet: cannot read Parquet data: OSError: Couldn't deserialize thrift: TProtocolException: Invalid data "
        "Deserializing page header failed.")
    assert str(FormatError("a.bvh", "x\r\n  y", line=3)) == "a.bvh:3: x y"
    assert str(CRBMError("one\n\ntwo")) == "one two" and str(DivergenceError("a\nb")) == "a b"
    assert one_line("  kept   as is ") == "kept   as is" and one_line("") == ""
    assert isinstance(FormatError("f", "m"), ValueError)
