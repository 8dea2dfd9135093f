"""coronet_fuzz_target: one libFuzzer target and the test that replays its corpus.

`bazel build --config=fuzz //tests/fuzz:NAME` builds NAME as a libFuzzer binary (clang-14,
ASan+UBSan, coverage; see .bazelrc). In every other configuration NAME links replay_main instead,
which runs the inputs named on its command line once each, and NAME_corpus_test replays the
committed seed corpus (corpus/NAME/) and every crash regression (regressions/NAME/) under the
default, asan and tsan passes of tools/test: a crash found once stays fixed.
"""

def coronet_fuzz_target(name, srcs, deps = [], **kwargs):
    engine = select({
        "//tests/fuzz:fuzzing": [],
        "//conditions:default": ["//tests/fuzz:replay_main"],
    })
    native.cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        deps = deps + engine,
        linkopts = select({
            "//tests/fuzz:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        **kwargs
    )
    inputs = native.glob(["corpus/%s/**" % name, "regressions/%s/**" % name])
    native.sh_test(
        name = name + "_corpus_test",
        srcs = ["//tests/fuzz:replay_corpus.sh"],
        args = [
            "$(location :%s)" % name,
            "tests/fuzz/corpus/%s" % name,
            "tests/fuzz/regressions/%s" % name,
        ],
        data = [":" + name] + inputs,
    )
