"""Our JUnit schema accepts what pytest itself writes, and refuses what no
JUnit reader would take: so validating against it means something."""

import subprocess
import sys
import textwrap

import pytest

from ..evidence import assert_valid_junit


def test_pytests_own_junit_output_is_valid(tmp_path):
    (tmp_path / "test_sample.py").write_text(textwrap.dedent("""\
        import pytest

        def test_passes():
            assert True

        def test_fails():
            assert 1 == 2

        def test_skips():
            pytest.skip("not here")

        @pytest.fixture
        def broken():
            raise RuntimeError("setup")

        def test_errors(broken):
            pass
        """))
    out = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "junit_family=xunit2",
                    f"--junitxml={out}", str(tmp_path / "test_sample.py")], cwd=tmp_path, capture_output=True)
    text = out.read_text()
    assert "<failure" in text and "<skipped" in text and "<error" in text
    assert_valid_junit(out)


def test_a_testcase_without_a_name_is_refused(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites><testsuite name="s" tests="1" failures="0" errors="0"><testcase/></testsuite></testsuites>')
    with pytest.raises(Exception):
        assert_valid_junit(bad)
