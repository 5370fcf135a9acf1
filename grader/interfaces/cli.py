"""The ``activation-grader`` command.

Each command imports the grader inside its body, so ``--help`` and ``--version`` load click
and nothing of the grading (no NumPy, autograd or exercises). The grader's own exceptions
(:class:`grader.core.errors.GraderError`) become click's error messages here, and only here.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from grader import __version__
from grader.core.errors import GraderError
from grader.interfaces.cli_options import settings_options
from grader.pipeline.settings import Values
from grader.rubric.record import Status


def _user_errors(command):
    """A problem the user can fix (``GraderError``) is shown as ``Error: <message>`` with exit status 1 (or the
    error's own ``exit_status``); an interruption before the batch took over ends quietly with 128 + signal."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except GraderError as exc:
            error = click.ClickException(exc.message)
            error.exit_code = getattr(exc, "exit_status", 1)
            raise error from None
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", 2)
            click.echo("Interrupted before any submission was graded; nothing was written.", err=True)
            sys.exit(128 + signum)
    return run


def _parse_shard(ctx, param, value):
    if value is None:
        value = _shard_from_environment()
        if value is None:
            return None
    try:
        index, count = (int(v) for v in value.split("/"))
        assert count >= 1 and 0 <= index < count
    except (ValueError, AssertionError):
        raise click.BadParameter("expected I/N with 0 <= I < N, e.g. 0/4") from None
    return index, count


def _shard_from_environment() -> str | None:
    """SLURM job arrays and Kubernetes Indexed Jobs say which shard we are."""
    count = os.environ.get("ACTIVATION_GRADER_SHARDS")
    index = os.environ.get("SLURM_ARRAY_TASK_ID") or os.environ.get("JOB_COMPLETION_INDEX")
    return f"{index}/{count}" if count and index is not None else None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="activation-grader")
def main() -> None:
    """Grade NumPy notebooks on activation functions against autograd answer keys."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@settings_options(callbacks={"shard": _parse_shard})
@_user_errors
def grade(paths: tuple[Path, ...], settings: Values) -> None:
    """Grade notebooks (.ipynb), scripts (.py), zip archives of them (an LMS download) or directories of these."""
    from grader.pipeline.faults import signals_interrupt
    from grader.pipeline.preflight import check_setup
    from grader.pipeline.submissions import collect, shard_of
    from grader.pipeline.tasks import options_from
    from grader.pipeline.warm import prestart

    options = options_from(settings)
    out_dir, jobs, shard, quiet = settings.out_dir, settings.jobs, settings.shard, settings.quiet
    check_setup(options)  # engine, image, isolation: a SetupError (one line) stops the run before grading
    items = collect(list(paths))
    if not items:
        raise click.UsageError("no .ipynb, .py or .zip files found in the given paths")
    inline = options.executor != "dask" and (len(shard_of(items, shard)) == 1 or jobs == 1)
    if inline:  # this process grades: its worker starts now, while the rubric is imported and the first read
        prestart(options)
    from grader.pipeline import batch
    from grader.pipeline.executors import default_jobs

    jobs = jobs or default_jobs()
    pool = None
    if options.executor == "dask":
        from grader.pipeline.executors import dask_executor

        pool = dask_executor(settings.scheduler)
    elif inline:
        from grader.pipeline.executors import InlineExecutor

        pool = InlineExecutor()
    try:
        with signals_interrupt():  # SIGTERM too: the batch writes what it graded, then we say how to resume
            result = batch.run(list(paths), out_dir, options, jobs=jobs, executor=pool, regrade=settings.regrade,
                               shard=shard, progress=not quiet and sys.stderr.isatty())
    finally:
        if pool is not None:
            pool.shutdown()
    from rich.console import Console
    from rich.text import Text

    from grader.core.text import one_line

    console = Console()
    if not settings.no_report:  # the class-level analyses: similarity, then the report that shows its pairs
        from grader.pipeline.codefiles import update_similarity

        try:  # docs/similarity.md
            update_similarity(out_dir, shard_of(items, shard), jobs)
        except Exception as exc:  # the grades are written: a similarity problem must not hide them
            Console(stderr=True).print(Text(f"Warning: similarity.csv could not be written ({one_line(str(exc), 300)}); "
                                            f"`activation-grader similarity {out_dir}` tries again.", style="yellow"))
        from grader.reports.classreport import write_report

        try:
            write_report(out_dir)
        except Exception as exc:  # the grades are written: a report problem must not hide them
            why = one_line(f"{type(exc).__name__}: {exc}", 300)
            Console(stderr=True).print(Text(f"Warning: the class report could not be written ({why}). The grades "
                                            f"are complete in {out_dir / 'final_grades.csv'}; `activation-grader "
                                            f"report {out_dir}` tries again.", style="yellow"))
    # Nothing a submission wrote is ever parsed as Rich markup: every string is a Text (grader.core.text).
    if len(result.entries) == 1 and not quiet:
        from grader.reports.files import terminal_table

        console.print(terminal_table(result.records[0]))
    graded = sum(e.status == Status.GRADED for e in result.entries)
    isolations = sorted({e.isolation for e in result.entries if e.isolation})
    if isolations and not quiet:
        from grader.sandbox.isolation import describe_isolation

        for name in isolations:
            console.print(f"Isolation: {name}: {describe_isolation(name)}", markup=False, highlight=False)
    if result.changes and not quiet:
        for name, lines in result.changes.items():
            console.print(Text(one_line(f"{name}: score changed on regrade")))
            for line in lines:
                console.print(Text(one_line(f"  {line}")))
    if not quiet:
        console.print(Text(f"{len(result.entries)} submission(s): {graded} graded, {len(result.entries) - graded} "
                           f"with problems ({result.reuse_summary}). Wrote {out_dir / 'final_grades.csv'}."))
    status = _grading_side_problems(result, out_dir)
    if status:
        sys.exit(status)


def _grading_side_problems(result, out_dir: Path) -> int:
    """Say on stderr (even with -q) what went wrong on the grading side, and return the exit status: 128 +
    signal for an interrupted run, 3 when the grader failed on some submissions, else 0."""
    from grader.pipeline.faults import EXIT_GRADER_FAILED
    from grader.core.text import one_line

    csv = out_dir / "final_grades.csv"
    if result.lost_workers:
        click.echo(f"Note: {result.lost_workers} grading process(es) were lost mid-run (killed from outside, e.g. "
                   f"by the out-of-memory killer); the submissions they held were handed out again, once.", err=True)
    if result.interrupted:
        total = len(result.entries) + result.remaining
        click.echo(f"Interrupted: {len(result.entries)} of {total} submission(s) have their row in {csv} (and "
                   f"their results and feedback); {result.remaining} remain. Run the same command again to "
                   f"resume: what is written is reused.", err=True)
        return 128 + result.interrupted
    if result.failures:
        causes = sorted(set(result.failures.values()))
        first = one_line(causes[0], 300) + (f" (and {len(causes) - 1} other cause(s): see each results file's "
                                            f"provenance.error)" if len(causes) > 1 else "")
        click.echo(f"Error: the grader failed on {len(result.failures)} of {len(result.entries)} submission(s): "
                   f"{first}. Their rows in {csv} have status 'error' and no score; the others are graded and "
                   f"kept. Fix the cause and run the same command again: it grades only those.", err=True)
        return EXIT_GRADER_FAILED
    return 0


def _require_results(out_dir: Path, command: str, what: str) -> None:
    """Refuse a directory that is not a grading output (a folder of submissions, say): nothing is
    written into it."""
    results = out_dir / "results"
    if results.is_dir() and any(results.glob("*.json")):
        return
    hint = ""
    if any(p.suffix in (".ipynb", ".py") for p in out_dir.iterdir()):
        hint = (f" It holds notebooks or scripts: to grade them, run `activation-grader grade {out_dir} --out "
                f"out/`, which writes {what} too.")
    raise click.ClickException(f"{out_dir} has no results/*.json, so there is nothing to report on: `{command}` "
                               f"rebuilds {what} of a directory that `activation-grader grade --out` or `merge --out` "
                               f"wrote. Nothing was written.{hint}")


@main.command()
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(out_dir: Path) -> None:
    """(Re)build OUT_DIR/report.html and summary.csv from OUT_DIR/results."""
    from grader.reports.classreport import write_report

    _require_results(out_dir, "report", "the class report")
    path = write_report(out_dir)
    click.echo(f"Wrote {path}")


@main.command()
@click.argument("out_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--no-report", is_flag=True, help="Do not rebuild report.html.")
@_user_errors
def similarity(out_dir: Path, no_report: bool) -> None:
    """(Re)compute OUT_DIR/similarity.csv from OUT_DIR alone (code/ and results/), and the report's section."""
    from grader.reports.similarity.compute import write_similarity

    _require_results(out_dir, "similarity", "similarity.csv and the class report")
    found = write_similarity(out_dir)
    for name in found.damaged:
        click.echo(f"Warning: code/{name} is not a code file of this grader; left out.", err=True)
    if found.missing_code:
        click.echo(f"Warning: {len(found.missing_code)} graded submission(s) have no code in {out_dir / 'code'} "
                   f"(graded by an older grader?): run `activation-grader grade` again to compare them.", err=True)
    if not no_report:
        from grader.reports.classreport import write_report

        write_report(out_dir)
    click.echo(f"Wrote {out_dir / 'similarity.csv'}: {len(found.rows)} row(s) for {found.submissions} submission(s).")


@main.group()
def image() -> None:
    """The grading image for --sandbox docker."""


@image.command("build")
@click.option("--offline", is_flag=True, help="Build from a local Debian base and downloaded wheels "
                                              "(no registry needed).")
@click.option("--tag", default="activation-grader:latest", show_default=True,
              help="Name of the image to build (the one --image of grade uses by default).")
def image_build(offline: bool, tag: str) -> None:
    """Build the grading image."""
    from grader.sandbox.image import build_image

    click.echo(f"Built {build_image(offline=offline, tag=tag)}")



@main.command("merge")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Directory for the merged final_grades.csv, results/, feedback/ and class report.")
@click.option("--submissions", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="The graded inputs (repeatable): fail if any of them has no result in DIRS.")
@click.option("--no-report", is_flag=True, help="Do not write the class report.")
@click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors.")
@_user_errors
def merge_command(dirs, out_dir, submissions, no_report, quiet) -> None:
    """Merge the output directories of sharded runs (grade --shard I/N) into OUT."""
    from grader.pipeline.merge import MissingResults, merge_shards

    merged = merge_shards(list(dirs), out_dir, submissions=list(submissions) or None, report=not no_report)
    for warning in merged.warnings:
        click.echo(f"Warning: {warning}", err=True)
    for dup in merged.duplicates:
        click.echo(f"{'Duplicate' if dup.identical else 'Conflict'}: {dup.describe()}", err=True)
    if not quiet:
        click.echo(f"Merged {len(merged.records)} submission(s) from {len(dirs)} directories into {merged.csv}"
                   f" ({len(merged.duplicates)} duplicate(s)).")
    if merged.missing:
        raise MissingResults(merged.missing)


@main.group("docker")
def docker_group() -> None:
    """Docker helpers for `otter grade`."""


@docker_group.command("install-buildx-shim")
@click.option("--remove", is_flag=True, help="Remove the stand-in installed by this command (nothing else).")
@_user_errors
def install_buildx_shim(remove: bool) -> None:
    """Let `otter grade` build on a Docker without buildx (Debian's docker.io).

    Installs a stand-in `docker buildx` that builds with the classic builder into
    $DOCKER_CONFIG/cli-plugins (default ~/.docker/cli-plugins). Does nothing where
    `docker buildx version` already works; never replaces another plugin."""
    from grader.interfaces import buildx_shim

    done = buildx_shim.remove() if remove else buildx_shim.install()
    click.echo(done.message)


@main.group("gradescope")
def gradescope_group() -> None:
    """Try the Gradescope autograder zip locally."""


@gradescope_group.command("run")
@click.argument("zip_path", metavar="ZIP", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("submissions", metavar="SUBMISSION...", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("gradescope-results"),
              show_default=True, help="Folder that receives results.json and the logs of setup.sh and run_autograder.")
@click.option("--image", default="activation-grader:latest", show_default=True,
              help="Image of the fresh container (it must satisfy the zip's requirements.txt offline).")
@click.option("--metadata", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A submission_metadata.json to use instead of a made-up one.")
@click.option("--timeout", type=click.FloatRange(10), default=900.0, show_default=True,
              help="Seconds before the container is killed.")
@_user_errors
def gradescope_run(zip_path: Path, submissions: tuple[Path, ...], out_dir: Path, image: str,
                   metadata: Path | None, timeout: float) -> None:
    """Run the autograder ZIP on SUBMISSION as Gradescope does.

    A fresh container of IMAGE with no network: the zip's files in /autograder/source, its
    setup.sh, the submission in /autograder/submission, /autograder/run_autograder as root.
    Prints the score of each test and copies results.json out to --out."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from grader.interfaces.gradescope_local import run_zip

    run = run_zip(zip_path, list(submissions), out_dir, image=image, timeout=timeout,
                  metadata=metadata.read_bytes() if metadata else None)
    console = Console(highlight=False)
    table = Table(title=Text(f"{', '.join(s.name for s in submissions)} on {image}"))
    for column, justify in (("test", "left"), ("score", "right"), ("max", "right"), ("status", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for test in run.tests:
        table.add_row(Text(str(test.get("name", ""))), Text(f"{test.get('score', 0) or 0:g}"),
                      Text(f"{test.get('max_score', 0) or 0:g}"), Text(str(test.get("status", ""))))
    console.print(table)
    first = str(run.results.get("output", "")).strip().splitlines()[:1]
    if first:
        console.print(Text(first[0]))
    # plain lines, never wrapped, so the paths can be copied
    click.echo(f"Total: {run.score:g} / {run.max_score:g} ({run.seconds:.1f} s)")
    click.echo(f"results.json: {run.results_json}")
    click.echo(f"logs: {run.out_dir / 'setup.log'}, {run.out_dir / 'run_autograder.log'}")
