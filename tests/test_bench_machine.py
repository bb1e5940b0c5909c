"""bench.machine: the line that says which CPU a benchmark's figures come from."""

from __future__ import annotations

from bench.machine import describe

AVX2_ONLY = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 fma avx avx2 bmi2

processor\t: 1
model name\t: another CPU
flags\t\t: fpu avx512f
"""

AVX512 = """processor\t: 0
model name\t: AMD EPYC 9B14
flags\t\t: fpu avx avx2 avx512f avx512_vnni avx512bw
"""


def test_the_first_processor_s_model_and_its_widest_extensions_are_named() -> None:
    line = describe(AVX512, load=1.3)
    assert line.startswith("AMD EPYC 9B14, ")
    assert "AVX512 VNNI, AVX512F, AVX2" in line
    assert line.endswith("load average 1.3")


def test_a_cpu_without_avx512_says_so_and_another_processor_s_flags_are_not_read() -> None:
    line = describe(AVX2_ONLY, load=0.0)
    assert line.startswith("AMD EPYC, ")
    assert ", AVX2, " in line
    assert "AVX512" not in line


def test_a_cpu_with_no_wide_extension_or_no_cpuinfo_still_gives_a_line() -> None:
    assert "no AVX2" in describe("model name\t: old\nflags\t\t: fpu sse2\n", load=0.0)
    assert "extensions unknown" in describe("", load=0.0)
