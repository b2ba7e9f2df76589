"""Reading and atomically writing source files without changing their form."""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

import pytest

from kantra_ai.edits.files import (
    SourceFileError,
    StaleFileError,
    decode_text,
    read_source,
    sha256_file,
    write_source_atomic,
)


def write_bytes(tmp_path: Path, data: bytes, name: str = "A.java") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_utf8_file_roundtrips_and_reports_its_hash(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, "class Ä {}\n".encode())
    source = read_source(path)
    assert (source.text, source.encoding, source.newline, source.has_bom) == (
        "class Ä {}\n",
        "utf-8",
        "\n",
        False,
    )
    assert source.sha256 == sha256_file(path)
    new_sha = write_source_atomic(source, "class Ö {}\n")
    assert path.read_bytes() == "class Ö {}\n".encode()
    assert new_sha == sha256_file(path)


def test_crlf_newlines_are_read_as_lf_and_written_back_as_crlf(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"a\r\nb\r\n")
    source = read_source(path)
    assert source.text == "a\nb\n" and source.newline == "\r\n" and not source.mixed_newlines
    write_source_atomic(source, "a\nc\nb\n")
    assert path.read_bytes() == b"a\r\nc\r\nb\r\n"


def test_old_mac_cr_newlines_are_preserved(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"a\rb")
    source = read_source(path)
    assert source.text == "a\nb" and source.newline == "\r"
    write_source_atomic(source, "a\nB")
    assert path.read_bytes() == b"a\rB"


def test_mixed_newlines_are_flagged_and_the_dominant_style_is_named(tmp_path: Path) -> None:
    source = read_source(write_bytes(tmp_path, b"a\r\nb\r\nc\nd\r\n"))
    assert source.newline == "\r\n" and source.mixed_newlines
    assert source.text == "a\nb\nc\nd\n"


def test_a_file_of_mixed_newlines_keeps_each_lines_own_when_written(tmp_path: Path) -> None:
    # Lines the edit leaves alone keep their ending (the LF minority, the lone CR inside a CRLF
    # file); a changed line keeps the one it had, an inserted line takes the one above it.
    path = write_bytes(tmp_path, b"a\r\nb\nc\r\nd // x\ry\r\ne\nf")
    source = read_source(path)
    write_source_atomic(source, source.text.replace("c\n", "C\nnew\n").replace("e\n", "E\n"))
    assert path.read_bytes() == b"a\r\nb\nC\r\nnew\r\nd // x\ry\r\nE\nf"


def test_a_file_of_mixed_newlines_keeps_them_when_lines_are_removed_or_added_at_the_ends(
    tmp_path: Path,
) -> None:
    path = write_bytes(tmp_path, b"top\nmid\r\nend\r\n")
    source = read_source(path)
    write_source_atomic(source, "new\n" + source.text.replace("mid\n", "") + "last\n")
    assert path.read_bytes() == b"new\ntop\nend\r\nlast\r\n"


def test_missing_trailing_newline_stays_missing(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"a\r\nb")
    source = read_source(path)
    write_source_atomic(source, source.text.replace("b", "c"))
    assert path.read_bytes() == b"a\r\nc"


def test_utf8_bom_is_kept_out_of_the_text_and_written_back(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, codecs.BOM_UTF8 + b"<project/>\n", "pom.xml")
    source = read_source(path)
    assert source.has_bom and source.text == "<project/>\n"
    write_source_atomic(source, "<project></project>\n")
    assert path.read_bytes() == codecs.BOM_UTF8 + b"<project></project>\n"


def test_legacy_encoded_file_roundtrips_byte_for_byte(tmp_path: Path) -> None:
    raw = "// Grüße – café\nclass A {}\n".encode("cp1252")
    path = write_bytes(tmp_path, raw)
    source = read_source(path)
    assert source.encoding == "cp1252"
    assert source.text == "// Grüße – café\nclass A {}\n"
    write_source_atomic(source, source.text)
    assert path.read_bytes() == raw


def test_bytes_undefined_in_cp1252_fall_back_to_latin1_without_loss(tmp_path: Path) -> None:
    raw = b"// \x81\x8d\xe9\nclass A {}\n"
    path = write_bytes(tmp_path, raw)
    source = read_source(path)
    assert source.encoding == "latin-1"
    write_source_atomic(source, source.text.replace("A", "B"))
    assert path.read_bytes() == raw.replace(b"A", b"B")


def test_text_that_cannot_be_encoded_is_refused_and_nothing_written(tmp_path: Path) -> None:
    raw = "// café\n".encode("latin-1")
    path = write_bytes(tmp_path, b"\x81" + raw)  # \x81 forces latin-1
    source = read_source(path)
    with pytest.raises(SourceFileError, match=r"'☃' \(line 2\) cannot be written in latin-1"):
        write_source_atomic(source, source.text + "// ☃\n")
    assert path.read_bytes() == b"\x81" + raw
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.java"]


def test_permission_bits_survive_the_write(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"#!/bin/sh\necho hi\n", "run.sh")
    os.chmod(path, 0o751)
    source = read_source(path)
    assert source.mode == 0o751
    write_source_atomic(source, "#!/bin/sh\necho bye\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o751


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"a\n")
    write_source_atomic(read_source(path), "b\n")
    assert [p.name for p in tmp_path.iterdir()] == ["A.java"]


def test_file_changed_after_read_is_not_overwritten(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"original\n")
    source = read_source(path)
    path.write_bytes(b"the user's own change\n")
    with pytest.raises(StaleFileError, match="changed on disk"):
        write_source_atomic(source, "model's change\n")
    assert path.read_bytes() == b"the user's own change\n"
    assert [p.name for p in tmp_path.iterdir()] == ["A.java"]


def test_file_deleted_after_read_is_not_recreated(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"original\n")
    source = read_source(path)
    path.unlink()
    with pytest.raises(StaleFileError, match="deleted"):
        write_source_atomic(source, "model's change\n")
    assert list(tmp_path.iterdir()) == []


def test_symlink_stays_a_link_and_its_target_is_written(tmp_path: Path) -> None:
    target = write_bytes(tmp_path, b"a\n", "Real.java")
    link = tmp_path / "Link.java"
    link.symlink_to(target)
    write_source_atomic(read_source(link), "b\n")
    assert link.is_symlink()
    assert target.read_bytes() == b"b\n"


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"\xca\xfe\xba\xbe\x00\x00\x00\x34", "A.class")
    with pytest.raises(SourceFileError, match="binary"):
        read_source(path)


def test_unreadable_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(SourceFileError, match="cannot read") as caught:
        read_source(tmp_path / "missing.java")
    assert "\n" not in str(caught.value)


def test_empty_file_reads_as_empty_text(tmp_path: Path) -> None:
    source = read_source(write_bytes(tmp_path, b""))
    assert (source.text, source.encoding, source.newline) == ("", "utf-8", "\n")


def test_read_only_file_is_not_overwritten(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"a\n")
    os.chmod(path, 0o444)
    source = read_source(path)
    with pytest.raises(SourceFileError, match="read-only"):
        write_source_atomic(source, "b\n")
    assert path.read_bytes() == b"a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["A.java"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="changing owners needs root")
def test_owner_and_group_are_kept_when_permitted(tmp_path: Path) -> None:
    path = write_bytes(tmp_path, b"a\n")
    os.chown(path, 1234, 5678)
    write_source_atomic(read_source(path), "b\n")
    assert (path.stat().st_uid, path.stat().st_gid) == (1234, 5678)


@pytest.mark.parametrize("raw", [b"a\r\nb\r\n", b"a\rb\r", b"a\nb\n", b"\xef\xbb\xbfa\r\nb\n"])
def test_stored_bytes_decode_to_the_text_a_read_gives(tmp_path: Path, raw: bytes) -> None:
    # The run store keeps a file's bytes as written; they are compared with what read_source reads.
    assert decode_text(raw) == read_source(write_bytes(tmp_path, raw)).text == "a\nb\n"


@pytest.mark.skipif(not hasattr(os, "setxattr"), reason="no extended attributes on this platform")
def test_a_written_file_keeps_its_extended_attributes(tmp_path: Path) -> None:
    # The new content goes into a new file renamed over the old one: its user.* notes (and ACLs,
    # labels) are copied over, as its mode is, not dropped with the old inode.
    path = write_bytes(tmp_path, b"class A {}\n")
    try:
        os.setxattr(path, "user.kantra-test", b"keep me")
    except OSError:
        pytest.skip("the temporary folder's file system has no user extended attributes")
    write_source_atomic(read_source(path), "class B {}\n")
    assert path.read_bytes() == b"class B {}\n"
    assert os.getxattr(path, "user.kantra-test") == b"keep me"


@pytest.mark.parametrize(
    ("codec", "name"), [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")]
)
def test_a_utf16_or_utf32_file_is_refused_as_such_not_as_binary(
    tmp_path: Path, codec: str, name: str
) -> None:
    text = "\ufeffclass A {}\r\n" if codec == "utf-16-be" else "class A {}\r\n"
    path = write_bytes(tmp_path, text.encode(codec))
    with pytest.raises(
        SourceFileError, match=rf"is {name} text; only UTF-8 and single-byte encodings are edited"
    ):
        read_source(path)
