"""The onnxruntime session options the adapter sets from its measured defaults."""

from __future__ import annotations

import pytest

from vigie_detection.adapters.onnx_runtime import SessionTuning, session_options

ort = pytest.importorskip("onnxruntime")


def test_defaults_are_full_optimisation_sequential_and_one_thread() -> None:
    options = session_options(ort, SessionTuning())
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)


def test_no_thread_count_leaves_it_to_onnxruntime() -> None:
    options = session_options(ort, SessionTuning(threads=None))
    assert options.intra_op_num_threads == 0  # 0: onnxruntime chooses (one per physical core)


@pytest.mark.parametrize(
    ("level", "expected"),
    [("basic", "ORT_ENABLE_BASIC"), ("extended", "ORT_ENABLE_EXTENDED"), ("all", "ORT_ENABLE_ALL")],
)
def test_each_optimisation_level(level: str, expected: str) -> None:
    options = session_options(ort, SessionTuning(optimization=level))  # type: ignore[arg-type]
    assert options.graph_optimization_level == getattr(ort.GraphOptimizationLevel, expected)


def test_threads_set_intra_op_and_one_inter_op_thread() -> None:
    options = session_options(ort, SessionTuning(threads=2, execution="parallel"))
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    assert options.execution_mode == ort.ExecutionMode.ORT_PARALLEL
