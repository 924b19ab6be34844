#!/usr/bin/env python3
"""Independent check of the annotation dashboard's Krippendorff's alpha (nominal) with the
`krippendorff` PyPI package, on Krippendorff (2011)'s 4 coders x 12 units example and on the
binary flag cases of app/src/ssr/annotate/agreement.rs's tests.
Run: /work/venvs/annot/bin/python tools/bench/annotate_alpha.py (pip install krippendorff numpy)."""
import numpy as np
import krippendorff

nan = np.nan
example = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
])
print("worked example nominal alpha:", round(krippendorff.alpha(reliability_data=example, level_of_measurement="nominal"), 6))
# Binary flags, coders x units: perfect agreement with variation; systematic disagreement.
print("perfect:", krippendorff.alpha(reliability_data=np.array([[1, 0], [1, 0]]), level_of_measurement="nominal"))
print("disagree:", krippendorff.alpha(reliability_data=np.array([[1, 0], [0, 1]]), level_of_measurement="nominal"))
