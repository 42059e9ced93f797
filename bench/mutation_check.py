"""Break the code on purpose, once per behaviour, and check that the test named for it notices.

Each `Mutation` is one exact edit of one file (a snippet and what it becomes) and the tests that
hold that behaviour. The script exports the committed tree (`git archive HEAD`; `--worktree` for
the files as they are on disk) into a temporary folder beside a link to ../shared, checks that
every named test passes there unchanged, then for each mutation copies that tree, makes the one
edit and runs its tests:

    caught   a named test failed
    missed   every named test passed: the suite does not hold this behaviour
    stale    the snippet is not in the file exactly once (the code moved: update the mutation)
    broken   pytest could not run the tests (an import or collection error is not a catch)
    hung     the tests ran past --timeout

The working tree is never touched. Not run in CI (it runs the named tests once per mutation).

    python bench/mutation_check.py                          # all of them, a few minutes
    python bench/mutation_check.py --only wrap-rule --only hidden-state-not-restored
    python bench/mutation_check.py --list                   # names, files and tests
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from benchlib import REPO

PACKAGES = ("engine", "corpora", "tui")  # the folders rnn_tui.engine, rnn_tui.corpora, rnn_tui.tui


@dataclass(frozen=True)
class Mutation:
    """One deliberate bug: replace `old` (exactly once in `path`) with `new`; `tests` (pytest node
    ids below tests/) must fail."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    origin: str = "review"  # the issue-17 review's 21, "issue" (its own two), "today" (new code)


MUTATIONS = [
    # -- the review's 21 --------------------------------------------------------------------
    Mutation(
        "wrap-rule",
        "engine/streams.py",
        "if self.offset + T + 1 >= self.segment:",
        "if self.offset + T + 1 > self.segment:",
        (
            "test_engine_equivalence.py::test_one_window_matches_reference_loss_gradients_and_next_state",
        ),
    ),
    Mutation(
        "adagrad-epsilon",
        "engine/optim.py",
        "np.add(mem, p.dtype.type(1e-8), out=scratch)",
        "np.add(mem, p.dtype.type(1e-6), out=scratch)",
        (
            "test_engine_units.py::test_adagrad_follows_the_video_formula_exactly",
            "test_engine_equivalence.py::test_first_ten_training_losses_match_golden",
        ),
    ),
    Mutation(
        "bias-gradients-off-by-0.1%",
        "engine/model.py",
        'np.dot(ones, flat, out=grads["d" + b])',
        'np.dot(ones, flat, out=grads["d" + b])\n            grads["d" + b] *= 1.001',
        (
            "test_cells_gradients.py::test_gradients_match_centred_differences",
            "test_engine_gradcheck.py::test_every_rnn_gradient_matches_centred_differences",
        ),
    ),
    Mutation(
        "dropout-mask-lost-in-backward",
        "engine/model.py",
        "                if masks[layer] is not None:\n                    dhs *= masks[layer]\n",
        "                pass\n",
        (
            "test_cells_gradients.py::test_gradients_flow_through_a_fixed_dropout_mask",
            "test_engine_gradcheck.py::test_gradients_with_dropout_between_layers_match_for_a_fixed_mask",
        ),
    ),
    Mutation(
        "optimizer-state-not-restored",
        "engine/persistence.py",
        "        trainer.optimizer.load_state_dict(\n"
        '            {k[4:]: v for k, v in arrays.items() if k.startswith("opt/")}\n'
        "        )\n",
        "",
        ("test_cells_training.py::test_resume_from_checkpoint_is_bit_exact",),
    ),
    Mutation(
        "sample-rng-not-restored",
        "engine/persistence.py",
        '        trainer.sample_rng.bit_generator.state = meta["sample_rng"]\n',
        "",
        ("test_cells_training.py::test_resume_from_checkpoint_is_bit_exact",),
    ),
    Mutation(
        "pause-ignored",
        "engine/trainer.py",
        "            if self._pause_requested.is_set():\n",
        "            if False:\n",
        ("test_engine_trainer.py::test_pause_freezes_the_step_counter_and_resume_continues",),
    ),
    Mutation(
        "multi-line-errors",
        "tui/output.py",
        'line = " ".join(str(message).split())',
        "line = str(message)",
        ("test_cli_one_line_errors.py",),
    ),
    Mutation(
        "checkpoint-written-in-place",
        "engine/checkpoint.py",
        "tmp, handle = _create_temporary(path)",
        'tmp, handle = path, open(path, "wb")',
        (
            "test_reliability_disk.py::test_failed_autosaves_are_reported_training_goes_on_and_the_old_checkpoint_loads",
        ),
    ),
    Mutation(
        "clip-limit-asymmetric",
        "engine/optim.py",
        "np.clip(flat, -limit, limit, out=flat)",
        "np.clip(flat, -limit, 2 * limit, out=flat)",
        (
            "test_engine_units.py::test_clipping_and_the_global_norm_agree_with_plain_numpy_on_both_layouts",
        ),
    ),
    Mutation(
        "global-norm-without-sqrt",
        "engine/optim.py",
        'return math.sqrt(float(np.einsum("i,i->", flat, flat)))',
        'return float(np.einsum("i,i->", flat, flat))',
        (
            "test_engine_units.py::test_clipping_and_the_global_norm_agree_with_plain_numpy_on_both_layouts",
        ),
    ),
    Mutation(
        "adam-bias-correction-dropped",
        "engine/optim.py",
        "step = lr * math.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)",
        "step = lr",
        ("test_engine_units.py::test_adam_matches_the_textbook_update",),
    ),
    Mutation(
        "lstm-forget-bias-zero",
        "engine/lstm.py",
        "b[F * H : (F + 1) * H] = 1.0",
        "b[F * H : (F + 1) * H] = 0.0",
        ("test_cells_gradients.py::test_lstm_forget_gate_bias_starts_at_one",),
    ),
    Mutation(
        "gru-sampling-step-without-reset-gate",
        "engine/gru.py",
        "n = np.tanh(xproj[:, N * H :] + r * p[:, N * H :])",
        "n = np.tanh(xproj[:, N * H :] + p[:, N * H :])",
        ("test_cells_equivalence.py",),
    ),
    Mutation(
        "temperature-ignored",
        "engine/sampler.py",
        "z = logits / temperature",
        "z = logits / 1.0",
        ("test_engine_units.py::test_pick_follows_the_tempered_softmax",),
    ),
    Mutation(
        "nan-loss-not-detected",
        "engine/trainer.py",
        "if not (math.isfinite(result.loss) and math.isfinite(norm)):",
        "if False:",
        ("test_engine_trainer.py::test_nan_parameter_stops_the_run_with_training_failed",),
    ),
    Mutation(
        "stale-temporaries-kept",
        "engine/checkpoint.py",
        "        remove_stale_temporaries(path)\n",
        "",
        ("test_reliability_disk.py::test_saves_remove_temporary_files_of_dead_writers_only",),
    ),
    Mutation(
        "probe-check-skipped",
        "engine/persistence.py",
        "return isinstance(stored, (int, float)) and math.isclose(",
        "return True or math.isclose(",
        (
            "test_engine_resume.py::test_parameters_swapped_for_other_values_fail_the_consistency_check",
        ),
    ),
    Mutation(
        "object-arrays-accepted",
        "engine/checkpoint.py",
        "if got_dtype.hasobject or got_dtype != dtype:",
        "if got_dtype != dtype and not got_dtype.hasobject:",
        ("test_engine_resume.py::test_object_array_is_refused_without_unpickling",),
    ),
    Mutation(
        "periodic-sample-seeded-with-the-last-input",
        "engine/trainer.py",
        "seed = self.vocab.chars[self.last_target]",
        "seed = self.vocab.chars[int(self.last_inputs[-1])]",
        (
            "test_engine_trainer.py::test_periodic_sample_continues_from_the_next_character_like_the_video",
        ),
    ),
    Mutation(
        "snapshots-not-rate-limited",
        "engine/trainer.py",
        "            if now - last_snapshot >= policy.snapshot_interval:\n",
        "            if True:\n",
        ("test_engine_trainer.py::test_snapshots_are_published_at_a_bounded_rate",),
    ),
    # -- the two the issue found passing the whole suite -------------------------------------
    Mutation(
        "hidden-state-not-restored",
        "engine/persistence.py",
        '        trainer.hidden_state = arrays["state"].copy()\n',
        "",
        ("test_cells_training.py::test_every_cell_trains_validates_samples_and_round_trips",),
        origin="issue",
    ),
    Mutation(
        "lstm-preset-hidden-128",
        "engine/config.py",
        '        cell="lstm",\n        hidden_size=256,\n',
        '        cell="lstm",\n        hidden_size=128,\n',
        ("test_presets_documented.py::test_preset_is_as_documented",),
        origin="issue",
    ),
    # -- issue 17's own checks -----------------------------------------------------------------
    Mutation(
        "bad-input-message-drifts-from-the-docs",
        "tui/subcommands/train.py",
        "add --headless to train in a script or pipe",
        "add --headless to train in a script",
        ("test_cli_bad_inputs.py::test_the_docs_table_is_what_the_cases_print",),
        origin="issue",
    ),
    Mutation(
        "save-gate-after-the-rename",  # the kill-inside-a-save test must see a temporary left
        "engine/checkpoint.py",
        "        _wait_at_save_gate()\n        os.replace(tmp, path)\n",
        "        os.replace(tmp, path)\n        _wait_at_save_gate()\n",
        (
            "test_reliability_processes.py::test_kill_9_at_random_moments_loses_nothing_saved_and_resumes_where_it_left_off",
        ),
        origin="issue",
    ),
    # -- today's new code: config validation, commands, fine-tune ----------------------------
    Mutation(
        "open-lower-bound-accepted",
        "engine/config.py",
        "too_low = low is not None and (value <= low if spec.low_open else value < low)",
        "too_low = low is not None and value < low",
        ("test_settings.py::test_both_ends_of_every_range_are_where_the_declaration_puts_them",),
        origin="today",
    ),
    Mutation(
        "big-integers-parsed-through-a-float",
        "engine/config.py",
        '    if kind is int and stripped.lstrip("+-").isdigit():\n',
        "    if False:\n",
        ("test_settings.py::test_values_accepted_by_the_parser_are_the_values_the_config_holds",),
        origin="today",
    ),
    Mutation(
        "update-validated-only-in-the-training-thread",
        "engine/trainer.py",
        "                self.config.replace(**changes)  # the whole config must stay valid\n",
        "",
        ("test_engine_commands.py::test_a_bad_command_is_refused_by_submit_and_nothing_is_queued",),
        origin="today",
    ),
    Mutation(
        "sample-request-checked-only-when-served",
        "engine/trainer.py",
        "                check_prime(command.seed, self.vocab)\n",
        "",
        ("test_engine_commands.py::test_a_bad_command_is_refused_by_submit_and_nothing_is_queued",),
        origin="today",
    ),
    Mutation(
        "hyperparameter-change-not-marked",
        "engine/trainer.py",
        "                    self.hparam_change_steps.append(self.step_count)\n",
        "",
        ("test_engine_trainer.py::test_hyperparameter_change_takes_effect_at_the_next_step",),
        origin="today",
    ),
    Mutation(
        "requested-sample-loses-its-tag",
        "engine/trainer.py",
        "requested=True, tag=request.tag",
        'requested=True, tag=""',
        ("test_cells_training.py::test_trainer_controls_work_for_gated_cells",),
        origin="today",
    ),
    Mutation(
        "fine-tune-ignores-keep-optimizer",
        "engine/resume.py",
        "    if keep_optimizer:\n        trainer.optimizer.load_state_dict(",
        "    if False:\n        trainer.optimizer.load_state_dict(",
        ("test_engine_finetune.py::test_keep_optimizer_carries_the_optimiser_memory_over",),
        origin="today",
    ),
    Mutation(
        "fine-tune-accepts-new-characters",
        "engine/resume.py",
        "    if missing:\n        shown =",
        "    if False:\n        shown =",
        (
            "test_engine_finetune.py::test_a_text_with_characters_the_vocabulary_lacks_is_refused_listing_them",
        ),
        origin="today",
    ),
    Mutation(
        "fine-tune-lets-the-model-change",
        "engine/resume.py",
        "k for k in changes if k in ARCHITECTURE and changes[k] != getattr(saved_config, k)",
        "k for k in changes if False",
        ("test_engine_finetune.py::test_settings_may_change_but_not_the_model",),
        origin="today",
    ),
]


# -- the trees -----------------------------------------------------------------------------------


def export_tree(dest: Path, worktree: bool) -> None:
    """The repository's files into `dest`: the committed tree, or what is on disk."""
    if worktree:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        for name in filter(None, (n.decode() for n in listed)):
            source = REPO / name
            if source.is_file():
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest / name)
    else:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", "HEAD"], cwd=REPO, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(dest, filter="data")
    # one import package without installing: rnn_tui/engine -> ../engine, and so on
    for package in PACKAGES:
        (dest / "rnn_tui" / package).symlink_to(Path("..") / package)


def environment(tree: Path) -> dict[str, str]:
    """Run Python against `tree` (PYTHONPATH first, before the installed rnn-tui)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RNN_TUI_")}
    env.update(PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    return env


def pytest(tree: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    """(outcome, seconds, last lines) of running `tests` in `tree`."""
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
            + [f"tests/{test}" for test in tests],
            cwd=tree,
            env=environment(tree),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return "hung", time.monotonic() - started, ""
    took = time.monotonic() - started
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-3:])
    outcome = {0: "missed", 1: "caught"}.get(result.returncode, "broken")
    return outcome, took, tail


def apply(mutation: Mutation, tree: Path) -> bool:
    """Make the edit in `tree`; False (stale) unless the snippet occurs exactly once."""
    path = tree / mutation.path
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if text.count(mutation.old) != 1:
        return False
    path.write_text(text.replace(mutation.old, mutation.new), encoding="utf-8")
    return True


def check(mutation: Mutation, pristine: Path, work: Path, timeout: float) -> tuple:
    mutant = work / f"mutant-{mutation.name}"
    shutil.copytree(pristine, mutant, symlinks=True)
    try:
        if not apply(mutation, mutant):
            return mutation, "stale", 0.0, ""
        return (mutation, *pytest(mutant, mutation.tests, timeout))
    finally:
        shutil.rmtree(mutant, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], help="a mutation's name (repeat)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--worktree", action="store_true", help="the files on disk, not HEAD")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutations run at once")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per mutation")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    unknown = sorted(set(args.only) - {m.name for m in MUTATIONS})
    if unknown:
        parser.error(f"unknown mutation(s): {', '.join(unknown)}")
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:45} {m.origin:7} {m.path:28} {' '.join(m.tests)}")
        return 0

    with tempfile.TemporaryDirectory(prefix="mutation-check-") as tmp:
        work = Path(tmp)
        (work / "shared").symlink_to(REPO.parent / "shared")  # tests read ../shared
        pristine = work / "tree"
        pristine.mkdir()
        export_tree(pristine, args.worktree)
        probe = subprocess.run(
            [sys.executable, "-c", "import rnn_tui.engine as e; print(e.__file__)"],
            cwd=work,
            env=environment(pristine),
            capture_output=True,
            text=True,
        )
        assert probe.stdout.startswith(str(pristine)), f"imports escape the copy: {probe}"
        tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        outcome, took, tail = pytest(pristine, tests, args.timeout * 2)
        if outcome != "missed":  # "missed" here means they all passed, as they must
            print(f"the named tests do not pass on the unmutated tree:\n{tail}")
            return 2
        print(f"unmutated: the {len(tests)} named tests pass ({took:.0f} s)")

        print("\n| # | mutation | origin | file | result | s |\n|---|---|---|---|---|---:|")
        results = []
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            runs = pool.map(lambda m: check(m, pristine, work, args.timeout), chosen)
            for i, (m, outcome, took, tail) in enumerate(runs, 1):
                results.append(outcome)
                shown = f"**{outcome}**" if outcome != "caught" else outcome
                print(f"| {i} | `{m.name}` | {m.origin} | `{m.path}` | {shown} | {took:.0f} |")
                if outcome in ("missed", "broken"):
                    print(f"|   | {tail.replace(chr(10), ' / ')} | | | | |")
    counts = {k: results.count(k) for k in ("caught", "missed", "stale", "broken", "hung")}
    print("\n" + ", ".join(f"{v} {k}" for k, v in counts.items() if v or k == "caught"))
    return 0 if counts["caught"] == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
