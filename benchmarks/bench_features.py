"""Benchmark the seeds' per-file feature loop against the project's handcrafted extractor, on the same files.

The reference is the seeds' loop, rewritten here as they had it: ``librosa.load`` per file, then one
librosa call per feature, each computing its own STFT, tonnetz from ``librosa.effects.harmonic``, and the
mean over time of MFCC-40, chroma_stft, melspectrogram, spectral_contrast, tonnetz, ZCR and roll-off
(195 values), one file after another in one process. The project's extractor
(``feature_extraction.extract_features(feature_set="handcrafted")``) runs cold (empty cache), then warm.
The cold comparison is interleaved: the files are split into ``--chunks`` chunks and each chunk is timed
with the seeds' loop, then with the project, so that other work on a shared machine slows both alike.
Besides wall-clock rates the script reports CPU time per file (the project's includes its worker
processes and their start-up), a measure other processes on the machine barely affect, and where the
project's CPU time goes, stage by stage (decoding, the one STFT, chroma and its tuning estimate, tonnetz, the
other spectral statistics, Praat's pitch, point process / jitter / shimmer and HNR), from a profile of the
extractor on ``--profile-files`` of the clips in this process, scaled to those clips' CPU time without the
profiler; what the cold run spent beyond those stages is start-up, dispatch and caching.

Both run at the same sample rate (``--sr``, default 16 kHz, the corpora's own rate; the seeds loaded at
librosa's default 22,050 Hz, which only makes the reference slower: resampling and more samples per
STFT). Deliberate differences
on the shared columns, printed with the comparison: tonnetz (the project projects the STFT chroma, the
seeds a CQT chroma of the HPSS harmonic part). The project's 100 other columns (prosody, voice quality,
MFCC deviations …) are extra work the reference does not do.

Usage (from the project root; the issue's reference set is RAVDESS actors 01-04, 240 clips):
    .venv/bin/python benchmarks/bench_features.py --data ../shared/data/ravdess/Actor_0{1,2,3,4} [--jobs 2]
"""

import argparse
import cProfile
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import pandas as pd
from joblib.externals.loky import get_reusable_executor
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ser_utils.data.manifest import build_manifest, sample_clips
from ser_utils.features.extraction import extract_features, stop_workers
from ser_utils.features.handcrafted import HandcraftedConfig, seed_columns

DELIBERATE = {"tonnetz": "projected from the STFT chroma, not from a CQT chroma of the HPSS harmonic part"}
GROUPS = ("mfcc_mean", "chroma_mean", "mel_mean", "contrast_mean", "tonnetz_mean", "zcr_mean", "rolloff_mean")


def seed_features(path: str, *, sr: int) -> np.ndarray:
    """The seeds' 195 values of one file: every feature from its own STFT. Returns float64 (195,)."""
    y, sr = librosa.load(path, sr=sr)
    return np.concatenate(
        [
            np.mean(librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40).T, axis=0),
            np.mean(librosa.feature.chroma_stft(y=y, sr=sr).T, axis=0),
            np.mean(librosa.feature.melspectrogram(y=y, sr=sr).T, axis=0),
            np.mean(librosa.feature.spectral_contrast(y=y, sr=sr).T, axis=0),
            np.mean(librosa.feature.tonnetz(y=librosa.effects.harmonic(y), sr=sr).T, axis=0),
            [np.mean(librosa.feature.zero_crossing_rate(y))],
            [np.mean(librosa.feature.spectral_rolloff(y=y, sr=sr))],
        ]
    )


def compare_shared_columns(reference: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """Per column group: the largest absolute difference, and that difference relative to the spread
    (standard deviation across files) of the reference column, on the files both computed."""
    rows = []
    for group in GROUPS:
        columns = [column for column in reference.columns if column.startswith(group)]
        difference = (ours[columns] - reference[columns]).abs()
        spread = reference[columns].std().replace(0, np.nan)
        rows.append(
            {
                "group": group,
                "columns": len(columns),
                "max_abs_diff": float(difference.to_numpy().max()),
                "max_diff_over_spread": float((difference / spread).max().max()),
                "max_abs_reference": float(reference[columns].abs().to_numpy().max()),
                "deliberate_difference": DELIBERATE.get(group.split("_")[0], ""),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", default=[Path("../shared/data/ravdess")], help="folders")
    parser.add_argument("--max-files", type=int, default=None, help="files to time (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="processes for the project's extractor")
    parser.add_argument("--sr", type=int, default=16_000, help="sample rate both pipelines analyse at")
    parser.add_argument("--chunks", type=int, default=4, help="interleave the two pipelines over this many chunks")
    parser.add_argument("--seed", type=int, default=0, help="picks the files when --max-files is set")
    parser.add_argument("--profile-files", type=int, default=48, help="clips profiled stage by stage (0: skip)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    manifest, _ = build_manifest(args.data, progress=False, n_jobs=2)
    paths = sample_clips(manifest, max_clips=args.max_files, seed=args.seed)["path"].tolist()
    if not paths:
        print(f"error: no usable audio under {', '.join(map(str, args.data))}", file=sys.stderr)
        return 2
    chunks = [chunk.tolist() for chunk in np.array_split(np.array(paths, dtype=object), max(1, args.chunks))]
    print(
        f"{len(paths)} files from {', '.join(map(str, args.data))}, timed in {len(chunks)} interleaved chunks "
        f"(seeds' loop, then the project, per chunk); {os.cpu_count()} CPU cores; load average before {_load()}"
    )

    config = HandcraftedConfig(sr=args.sr)
    seconds = {"seeds_loop": 0.0, "project_cold": 0.0}
    cpu = {"seeds_loop": 0.0, "project_cold": 0.0}
    reference, children_before = [], _children_cpu()
    with tempfile.TemporaryDirectory(prefix="bench_features_") as cache_dir:
        for index, chunk in enumerate(chunks, start=1):
            wall, process = time.perf_counter(), time.process_time()
            with threadpool_limits(limits=1):  # one core, as the seeds ran (and no BLAS threads spinning)
                reference += [seed_features(path, sr=args.sr) for path in tqdm(chunk, desc=f"seeds' loop {index}")]
            seconds["seeds_loop"] += time.perf_counter() - wall
            cpu["seeds_loop"] += time.process_time() - process
            wall, process = time.perf_counter(), time.process_time()
            extract_features(chunk, feature_set="handcrafted", cache_dir=cache_dir, config=config, n_jobs=args.jobs)
            seconds["project_cold"] += time.perf_counter() - wall
            cpu["project_cold"] += time.process_time() - process
        stop_workers()  # reaps the workers (forked ones, and loky's when forking is off), so their CPU time counts
        get_reusable_executor().shutdown(wait=True)
        cpu["project_cold"] += _children_cpu() - children_before
        wall = time.perf_counter()
        warm = extract_features(
            paths, feature_set="handcrafted", cache_dir=cache_dir, config=config, n_jobs=args.jobs, progress=False
        )
        seconds["project_warm"] = time.perf_counter() - wall
    if warm.n_computed or len(warm.paths) + len(warm.failures) != len(paths):
        print("error: the warm run did not read every clip from the cache", file=sys.stderr)
        return 1

    columns = list(seed_columns(config))
    reference_table = pd.DataFrame(np.stack(reference), columns=columns, index=paths)
    ours = warm.frame().set_index("path")[columns].astype(np.float64)
    comparison = compare_shared_columns(reference_table.loc[ours.index], ours)
    rates = {name: len(paths) / value for name, value in seconds.items()}
    cold_ratio = rates["project_cold"] / rates["seeds_loop"]
    warm_ratio = rates["project_warm"] / rates["project_cold"]
    cpu_ratio = cpu["seeds_loop"] / cpu["project_cold"]
    print(f"\nload average after {_load()} (other processes on the machine slow both sides)")
    labels = {
        "seeds_loop": "seeds' loop, 1 process, 195 values",
        "project_cold": f"project, cold cache, {args.jobs} processes, {len(warm.columns)} values",
        "project_warm": "project, warm cache",
    }
    for name, label in labels.items():
        per_file = f"; {1000 * cpu[name] / len(paths):.0f} CPU-ms per file" if name in cpu else ""
        print(f"{label:<50} {rates[name]:9.1f} files/s  ({seconds[name]:.2f} s{per_file})")
    print(f"cold / seeds' loop: {cold_ratio:.1f}x faster; CPU work per file {cpu_ratio:.1f}x less")
    print(f"warm / cold: {warm_ratio:.0f}x faster")
    print("(the project's CPU time includes starting its worker processes)")
    stages = _stage_profile(paths[: args.profile_files], config=config) if args.profile_files else {}
    if stages:
        stages["start-up, dispatch, hashing, caching (cold run minus the stages)"] = cpu["project_cold"] / len(
            paths
        ) - sum(stages.values())
        print(f"\nproject's CPU seconds per clip by stage ({min(args.profile_files, len(paths))} clips profiled):")
        for stage, value in stages.items():
            print(f"  {stage:<68} {value:.4f}")
    print(f"failures: {len(warm.failures)}")
    print("\nshared columns, project minus seeds' loop, on the same files at the same sample rate:")
    print(comparison.to_string(index=False, float_format=lambda value: f"{value:.3g}"))
    same = comparison[comparison["deliberate_difference"] == ""]
    print(
        f"largest difference outside deliberate changes: {same['max_abs_diff'].max():.3g} "
        f"({same['max_diff_over_spread'].max():.3g} of the across-file spread)"
    )
    if args.json:
        payload = {
            "files": len(paths),
            "data": str(args.data),
            "jobs": args.jobs,
            "sr": args.sr,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "files_per_s": rates,
            "cold_over_seeds": cold_ratio,
            "warm_over_cold": warm_ratio,
            "cpu_seeds_over_project": cpu_ratio,
            "cpu_seconds_per_clip_by_stage": stages,
            "load_average_after": os.getloadavg(),
            "comparison": comparison.to_dict(orient="records"),
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


# Stages of the handcrafted extractor: (label, function name, file it is defined in); the profile's cumulative
# CPU time of each. "other spectral" is the extractor's own total minus the stages inside it.
STAGES = (
    ("decode (read, resample, checks)", "prepare_waveform", "prepare.py"),
    ("STFT (one, shared)", "stft", "spectrum.py"),
    ("chroma with its tuning estimate", "_chroma", "handcrafted.py"),
    ("tonnetz", "_tonnetz", "handcrafted.py"),
    ("Praat pitch (autocorrelation)", "<built-in method parselmouth.to_pitch_ac>", "~"),
    ("Praat point process, jitter, shimmer, HNR mean", "<built-in method parselmouth.praat.call>", "~"),
    ("Praat harmonicity (HNR)", "<built-in method parselmouth.to_harmonicity_ac>", "~"),
)


def _stage_profile(paths: list[str], *, config: HandcraftedConfig) -> dict[str, float]:
    """CPU seconds per clip of each extractor stage in this process (one job, no cache): each stage's share of the
    profiled run, times the CPU the same clips take without the profiler (whose overhead falls unevenly on the
    stages and would otherwise be counted as extraction time)."""
    extract_features(paths[:1], feature_set="handcrafted", cache_dir=None, config=config, n_jobs=1, progress=False)
    started = time.process_time()
    extract_features(paths, feature_set="handcrafted", cache_dir=None, config=config, n_jobs=1, progress=False)
    unprofiled = (time.process_time() - started) / len(paths)
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    extract_features(paths, feature_set="handcrafted", cache_dir=None, config=config, n_jobs=1, progress=False)
    profile.disable()
    profile.create_stats()
    cumulative = {}
    for (filename, _, name), (_, _, _, total, _) in profile.stats.items():
        key = (name, "~" if filename == "~" else Path(filename).name)
        cumulative[key] = cumulative.get(key, 0.0) + total
    stages = {label: cumulative.get((name, where), 0.0) / len(paths) for label, name, where in STAGES}
    inside = sum(value for label, value in stages.items() if not label.startswith("decode"))
    whole = cumulative.get(("handcrafted_features", "handcrafted.py"), 0.0) / len(paths)
    stages["other spectral statistics (mel, MFCC, contrast, deltas, onsets ...)"] = whole - inside
    profiled = cumulative.get(("extract_features", "extraction.py"), 0.0) / len(paths)
    return {label: value * unprofiled / profiled for label, value in stages.items()}


def _load() -> str:
    return "/".join(f"{value:.2f}" for value in os.getloadavg()) + " (1/5/15 min)"


def _children_cpu() -> float:
    """CPU seconds used by this process's finished (reaped) child processes."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
