"""Every developer and CI task of the Spinlock monorepo.

    nox                      # the default sessions, the same set CI runs (see README / .ci/run)
    nox -s tests -- -k sobol # pass arguments through to pytest
    nox -R -s tests          # reuse the session's venv, skip installs (fast local loop)

Rules that keep this working on a plain machine:

- Virtualenv backend with pip (never uv): pip on our machines installs the CPU build of torch from a local
  wheel store; uv would download a multi-GB CUDA build instead.
- Every install passes ``-c constraints/ci.txt`` (torch==2.13.0, the CPU build). Published metadata keeps
  ranges; only these pins are exact.
- Built wheels are installed by file path, never by name through ``--find-links``, so that a copy on an
  index can never stand in for the wheel we just built.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import nox

nox.needs_version = ">=2024.4.15"  # session(requires=..., default=...)
nox.options.default_venv_backend = "virtualenv"
nox.options.error_on_external_run = True
# Must stay the set the README's test command names (and .ci/run runs).
nox.options.sessions = [
    "lint",
    "typecheck",
    "tests",
    "build",
    "wheel_smoke",
    "example_plugin",
    "wavelet_plugin",
    "features_only",
]

ROOT = Path(__file__).parent.resolve()
CONSTRAINTS = ("-c", str(ROOT / "constraints" / "ci.txt"))
DISTS = ("core", "operators", "features", "vqvae", "noa")
DIST_DIR = ROOT / "dist"
EXAMPLE = ROOT / "examples" / "spinlock-example-plugin"
WAVELET = ROOT / "examples" / "spinlock-wavelet-features"
CHECK_INSTALLED = ROOT / "tests" / "packaging" / "check_installed.py"
EXTRACT_FROM_NUMPY = ROOT / "tests" / "packaging" / "extract_summary_from_numpy.py"
#: what the `viz` extras of the distributions add (matplotlib for pictures, imageio for GIF/MP4)
VIZ_EXTRAS = ("matplotlib", "imageio", "imageio-ffmpeg")
LINT_PATHS = ("spinlock-*/src", "tests", "examples", "benchmarks", "noxfile.py")
DEFAULT_MARKERS = "not slow and not gpu"


def dist_dir(name: str) -> Path:
    return ROOT / f"spinlock-{name}"


def install(session: nox.Session, *args: str) -> None:
    """``pip install`` under the CI constraints.

    ``--no-compile``: byte-compiling torch's sources at install time doubles the install (about 25 s more
    per venv on two cores); modules are compiled lazily when first imported instead.
    """
    session.install("--no-compile", *CONSTRAINTS, *args)


def install_editable(session: nox.Session, *extra: str) -> None:
    """All five distributions editable (one pip call, so siblings resolve to each other), plus ``extra``.

    hatchling goes in first and the editable builds reuse it (no isolated build env per distribution:
    five of those cost about half a minute on two cores).
    """
    install(session, "hatchling", "editables")  # hatchling's build_editable needs `editables`
    editables = [arg for name in DISTS for arg in ("-e", str(dist_dir(name)))]
    install(session, "--no-build-isolation", *editables, *extra)


def source_roots() -> str:
    """The five ``src`` directories, as a PYTHONPATH."""
    return os.pathsep.join(str(dist_dir(name) / "src") for name in DISTS)


def existing(paths: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for pattern in paths:
        found += sorted(glob.glob(str(ROOT / pattern)))
    return found


def built_wheel(name: str, where: Path = DIST_DIR) -> Path:
    """The one wheel of ``spinlock-<name>`` in ``where``."""
    wheels = sorted(where.glob(f"spinlock_{name}-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one spinlock-{name} wheel in {where}, found {[w.name for w in wheels]}")
    return wheels[0]


def wheel_requirements(wheel: Path) -> list[str]:
    """Names of the ``spinlock-*`` distributions a wheel requires (from its METADATA)."""
    with zipfile.ZipFile(wheel) as zf:
        metadata_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        headers = HeaderParser().parsestr(zf.read(metadata_name).decode())
    names = []
    for requirement in headers.get_all("Requires-Dist") or []:
        if "extra ==" in requirement:
            continue
        name = requirement.split(";")[0].strip()
        for sep in "<>=!~ [(":
            name = name.split(sep)[0]
        if name.startswith("spinlock-"):
            names.append(name.removeprefix("spinlock-"))
    return names


def wheel_closure(name: str) -> list[Path]:
    """The wheel of ``spinlock-<name>`` and of every spinlock distribution it needs, transitively."""
    todo, seen = [name], []
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        todo += wheel_requirements(built_wheel(current))
    return [built_wheel(n) for n in seen]


# -- quality -------------------------------------------------------------------------------------------


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, then the import contracts of pyproject.toml (lint-imports).

    ``nox -s lint -- PATH ...`` runs ruff on those paths only.
    """
    install(session, "ruff", "import-linter")
    paths = session.posargs or existing(LINT_PATHS)
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    # import-linter only needs to find the packages, not their dependencies (no torch install).
    session.run("lint-imports", env={"PYTHONPATH": source_roots()})


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over the five packages of the namespace (configuration in the root pyproject.toml)."""
    install_editable(session, "mypy", "types-PyYAML", "pytest", "hypothesis")
    session.run(
        "mypy",
        *[arg for name in DISTS for arg in ("-p", f"spinlock.{name}")],
        *session.posargs,
    )


# -- tests ---------------------------------------------------------------------------------------------


def install_test_env(session: nox.Session) -> None:
    install_editable(
        session,
        "dask[distributed]",  # spinlock-core's `dask` extra: tests/scaleout runs a LocalCluster
        "pytest",
        "hypothesis",
        "build",
        "hatchling",
        *VIZ_EXTRAS,  # tests/viz renders pictures and reads the GIF/MP4 back
        str(EXAMPLE),
    )


@nox.session
def tests(session: nox.Session) -> None:
    """One pytest run over all packages (editable), strict plugin loading, no slow or GPU tests."""
    install_test_env(session)
    session.run(
        "pytest",
        "tests",
        "-m",
        DEFAULT_MARKERS,
        *session.posargs,
        env={"SPINLOCK_STRICT_PLUGINS": "1"},
    )


#: names a Chromium binary goes by (tests/viz/test_report.py looks for the same ones)
CHROMIUM_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "chrome-headless-shell",
    "headless_shell",
)


@nox.session(default=False)
def report_smoke(session: nox.Session) -> None:
    """`spinlock report` opened in headless Chromium and screenshotted; skips (saying so) without Chromium.

    ``SPINLOCK_CHROMIUM=/path/to/chrome nox -s report_smoke`` picks the binary.
    """
    override = os.environ.get("SPINLOCK_CHROMIUM")
    candidates = (override,) if override else CHROMIUM_NAMES
    chromium = next((found for name in candidates if (found := shutil.which(name))), None)
    if chromium is None:
        session.skip(
            f"no chromium binary found ({', '.join(candidates)}); the headless screenshot of "
            "`spinlock report` did not run"
        )
    install_test_env(session)
    session.run(
        "pytest",
        "tests/viz/test_report.py",
        "-k",
        "chromium",
        "-rs",
        *session.posargs,
        env={"SPINLOCK_STRICT_PLUGINS": "1", "SPINLOCK_CHROMIUM": chromium, "SPINLOCK_REQUIRE_CHROMIUM": "1"},
    )


@nox.session(default=False)
def tests_slow(session: nox.Session) -> None:
    """Only the tests marked ``slow``."""
    install_test_env(session)
    session.run(
        "pytest",
        "tests",
        "-m",
        "slow and not gpu",
        *session.posargs,
        env={"SPINLOCK_STRICT_PLUGINS": "1"},
        success_codes=[0, 5],  # 5: no test is marked slow yet
    )


@nox.session(default=False, venv_params=["--system-site-packages"])
def gpu(session: nox.Session) -> None:
    """Tests marked ``gpu``, for a machine with CUDA (uses the system's CUDA torch when it has one)."""
    install_test_env(session)
    session.run("python", "-c", "import torch; print('CUDA available:', torch.cuda.is_available())")
    session.run(
        "pytest",
        "tests",
        "-m",
        "gpu",
        *session.posargs,
        env={"SPINLOCK_STRICT_PLUGINS": "1"},
        success_codes=[0, 5],
    )


# -- packaging -----------------------------------------------------------------------------------------


@nox.session
def build(session: nox.Session) -> None:
    """Wheel and sdist of each distribution into dist/, then the wheel-contents tests against dist/."""
    install(session, "build", "hatchling", "pytest")
    if DIST_DIR.exists():
        shutil.rmtree(DIST_DIR)
    for name in DISTS:
        # hatchling is installed here, so no isolated build env per distribution (much faster on 2 cores).
        session.run(
            "python", "-m", "build", "--no-isolation", "--wheel", "--sdist", "--outdir", str(DIST_DIR),
            str(dist_dir(name)),
        )  # fmt: skip
    session.run(
        "pytest",
        str(ROOT / "tests" / "packaging" / "test_wheels.py"),
        "-p",
        "no:spinlock",  # spinlock-core is not installed here
        "--noconftest",
        env={"SPINLOCK_WHEELHOUSE": str(DIST_DIR)},
    )


@nox.session(requires=["build"])
@nox.parametrize("dist", DISTS)
def wheel_smoke(session: nox.Session, dist: str) -> None:
    """A fresh venv with only the built wheel of one distribution (and the spinlock wheels it requires)."""
    wheels = wheel_closure(dist)
    session.log("installing " + ", ".join(w.name for w in wheels))
    install(session, *map(str, wheels))
    args = [str(CHECK_INSTALLED), "--import", f"spinlock.{dist}", "--plugin", "core:spinlock-core"]
    args += ["--component", "sampler:sobol"]
    if dist != "core":
        args += ["--plugin", f"{dist}:spinlock-{dist}"]
    with tempfile.TemporaryDirectory() as tmp:
        session.chdir(tmp)  # import nothing from the source tree
        session.run("python", *args, env={"SPINLOCK_STRICT_PLUGINS": "1"})


@nox.session
def example_plugin(session: nox.Session) -> None:
    """The third-party example beside a freshly built spinlock-core wheel: its tests, then list-plugins."""
    install(session, "build", "hatchling")
    with tempfile.TemporaryDirectory() as tmp:
        session.run(
            "python", "-m", "build", "--no-isolation", "--wheel", "--outdir", tmp, str(dist_dir("core"))
        )  # fmt: skip
        core_wheel = built_wheel("core", Path(tmp))
        install(session, str(core_wheel), f"{EXAMPLE}[test]")
    session.chdir(EXAMPLE)
    session.run("pytest", *session.posargs, env={"SPINLOCK_STRICT_PLUGINS": "1"})
    with tempfile.TemporaryDirectory() as tmp:
        session.chdir(tmp)
        session.run(
            "python",
            str(CHECK_INSTALLED),
            "--import",
            "spinlock_example_plugin",
            "--plugin",
            "example:spinlock-example-plugin",
            "--component",
            "sampler:halton",
            "--component",
            "sampler:sobol",
            env={"SPINLOCK_STRICT_PLUGINS": "1"},
        )


def pip_wheels(session: nox.Session, outdir: Path, *projects: Path) -> None:
    """Wheels of ``projects`` into ``outdir`` through ``pip wheel``.

    Each build runs in pip's isolated build env, so the session's venv gets no build tools and holds only
    what the session installs (about 3 s per wheel on two cores).
    """
    session.run(
        "python", "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(outdir), *map(str, projects)
    )  # fmt: skip


@nox.session
def wavelet_plugin(session: nox.Session) -> None:
    """The third-party wavelet feature family beside freshly built core and features wheels: its tests,
    list-plugins, then ``spinlock extract -f wavelet`` on a tiny dataset (no spinlock-operators).
    """
    strict = {"SPINLOCK_STRICT_PLUGINS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        pip_wheels(session, Path(tmp), dist_dir("core"), dist_dir("features"), WAVELET)
        core, features, plugin = (built_wheel(n, Path(tmp)) for n in ("core", "features", "wavelet_features"))
        install(session, str(core), str(features), f"{plugin}[test]")
    session.chdir(WAVELET)
    session.run("pytest", *session.posargs, env=strict)
    with tempfile.TemporaryDirectory() as tmp:
        session.chdir(tmp)  # import nothing from the source tree
        session.run(
            "python", str(CHECK_INSTALLED), "--import", "spinlock_wavelet_features",
            "--plugin", "wavelet:spinlock-wavelet-features", "--plugin", "features:spinlock-features",
            "--component", "feature_family:wavelet", "--component", "feature_family:temporal",
            env=strict,
        )  # fmt: skip
        session.run("python", str(WAVELET / "ci" / "check_extract.py"), tmp, env=strict)


@nox.session
def features_only(session: nox.Session) -> None:
    """Only the spinlock-core and spinlock-features wheels: features of a numpy array through
    ``spinlock.features.api.extract``, without spinlock-operators.

    ``nox -s features_only -- temporal`` picks another family (default ``summary``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        pip_wheels(session, Path(tmp), dist_dir("core"), dist_dir("features"))
        install(session, str(built_wheel("core", Path(tmp))), str(built_wheel("features", Path(tmp))))
    session.run("python", "-m", "pip", "list", "--format=freeze")
    with tempfile.TemporaryDirectory() as tmp:
        session.chdir(tmp)  # import nothing from the source tree
        session.run("python", str(EXTRACT_FROM_NUMPY), *session.posargs, env={"SPINLOCK_STRICT_PLUGINS": "1"})


# -- the main job --------------------------------------------------------------------------------------


def run_demo(session: nox.Session) -> None:
    """The end-to-end demonstration; extend it as the pipeline grows (generate, extract, train, tokenize)."""
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    dataset = out / "quick.h5"
    session.run("spinlock", "--version")
    session.run("spinlock", "list-plugins")
    # the embedded quick run (no --config): 64 CNN operators, 32x32, T=16, M=3
    session.run("spinlock", "generate", "--output", str(dataset), "--overwrite")
    session.run("spinlock", "validate", str(dataset))
    # offline extraction from the stored trajectories (the quick run also extracted every family inline)
    session.run("spinlock", "extract", str(dataset), "--families", "summary,temporal")
    # tokenizer on the embedded defaults, then tokens for every operator (/tokens/vqvae)
    model = out / "vqvae"
    shutil.rmtree(model, ignore_errors=True)
    session.run("spinlock", "train-vqvae", "--dataset", str(dataset), "--output", str(model))
    session.run("spinlock", "tokenize", "--model", str(model), "--dataset", str(dataset))
    session.run("spinlock", "info", str(dataset))
    # a short NOA stage: the agent learns rollouts from (θ, u0) against the frozen tokenizer, then predicts
    agent = out / "noa"
    shutil.rmtree(agent, ignore_errors=True)
    session.run(
        "spinlock", "train-noa", "--dataset", str(dataset), "--vqvae", str(model), "--output", str(agent),
        "--epochs", "3",
    )  # fmt: skip
    session.run(
        "spinlock", "noa", "predict", "--model", str(agent), "--dataset", str(dataset), "--indices", "0,1"
    )
    # one self-contained HTML page: config, provenance, sampling quality, IC mix, features, tokens, rollouts
    session.run(
        "spinlock", "report", str(dataset), "--model", str(model), "--output", str(out / "report.html")
    )


@nox.session(default=False)
def demo(session: nox.Session) -> None:
    """Run Spinlock's main job on the embedded defaults (editable installs): out/quick.h5, out/vqvae,
    out/noa and out/report.html."""
    install_editable(session, *VIZ_EXTRAS)  # the report draws pictures
    run_demo(session)
