#!/usr/bin/env python3
"""Time PySceneDetect's ContentDetector on video files (called by `make data-bench`: data/examples/bench_cuts.rs).

Prints one JSON object: {"version": ..., "files": {path: {"frames": n, "seconds": [..], "cuts": [..]}}}
where cuts are 0-based first frames of new scenes. Timing covers opening, decoding (OpenCV
backend, PySceneDetect's automatic downscale to ~256 px wide) and detection, like ours.
"""
import json
import sys
import time

import scenedetect
from scenedetect import ContentDetector, SceneManager, open_video


def run(path, threshold, min_len):
    t0 = time.perf_counter()
    video = open_video(path, backend="opencv")
    sm = SceneManager()
    sm.add_detector(ContentDetector(threshold=threshold, min_scene_len=min_len))
    sm.detect_scenes(video)
    scenes = sm.get_scene_list()
    dt = time.perf_counter() - t0
    frames = video.frame_number
    cuts = [s[0].get_frames() for s in scenes[1:]]
    return frames, dt, cuts


def main():
    threshold, min_len, repeats = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    out = {"version": scenedetect.__version__, "files": {}}
    for path in sys.argv[4:]:
        secs = []
        for _ in range(repeats):
            frames, dt, cuts = run(path, threshold, min_len)
            secs.append(dt)
        out["files"][path] = {"frames": frames, "seconds": secs, "cuts": cuts}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
