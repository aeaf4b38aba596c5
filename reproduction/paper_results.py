"""The paper's numbers (Pang, Shen and van den Hengel, KDD 2019), transcribed from its text.

``TABLE1[dataset][method] = (auc_roc, auc_roc_std, auc_pr, auc_pr_std)``;
``TABLE2[dataset][variant] = (auc_roc, auc_pr)``. Table 1's census is the
paper's mixed numeric + one-hot census; ours is the categorical-only substitute.
"""

from __future__ import annotations

__all__ = ["TABLE1", "TABLE1_META", "TABLE2"]

_T1 = """
donors   1.000 0.000 0.975 0.005 0.995 0.005 0.997 0.002 0.874 0.015 1.000 0.000 0.508 0.048 0.846 0.114 0.994 0.002 0.221 0.025
census   0.828 0.008 0.794 0.005 0.835 0.014 0.732 0.020 0.624 0.020 0.321 0.004 0.164 0.003 0.291 0.008 0.193 0.019 0.076 0.004
fraud    0.980 0.001 0.972 0.003 0.977 0.001 0.734 0.046 0.953 0.002 0.690 0.002 0.674 0.004 0.688 0.004 0.043 0.021 0.254 0.043
celeba   0.951 0.001 0.894 0.005 0.944 0.003 0.808 0.027 0.698 0.020 0.279 0.009 0.161 0.006 0.261 0.008 0.085 0.012 0.065 0.006
backdoor 0.969 0.004 0.878 0.007 0.952 0.018 0.928 0.019 0.752 0.021 0.883 0.008 0.116 0.003 0.856 0.016 0.573 0.167 0.051 0.005
URL      0.977 0.004 0.842 0.006 0.908 0.027 0.786 0.047 0.720 0.032 0.681 0.022 0.103 0.003 0.475 0.040 0.149 0.076 0.066 0.012
campaign 0.807 0.006 0.723 0.006 0.748 0.019 0.623 0.024 0.731 0.015 0.381 0.008 0.330 0.009 0.349 0.023 0.193 0.012 0.328 0.022
news20   0.950 0.007 0.885 0.003 0.887 0.000 0.578 0.050 0.328 0.016 0.653 0.009 0.222 0.004 0.253 0.001 0.082 0.010 0.035 0.002
thyroid  0.783 0.003 0.580 0.016 0.749 0.011 0.564 0.017 0.688 0.020 0.274 0.011 0.093 0.005 0.241 0.009 0.116 0.014 0.166 0.017
"""

_T2 = """
donors   1.000 0.999 0.978 1.000 1.000 0.976 0.827 1.000
census   0.828 0.858 0.832 0.686 0.321 0.338 0.297 0.241
fraud    0.980 0.975 0.937 0.926 0.690 0.684 0.659 0.701
celeba   0.951 0.949 0.949 0.877 0.279 0.283 0.281 0.239
backdoor 0.969 0.913 0.928 0.968 0.883 0.846 0.555 0.843
URL      0.977 0.954 0.872 0.941 0.681 0.687 0.347 0.595
campaign 0.807 0.759 0.757 0.679 0.381 0.371 0.357 0.259
news20   0.950 0.953 0.819 0.817 0.653 0.552 0.447 0.421
thyroid  0.783 0.729 0.717 0.787 0.274 0.216 0.205 0.383
"""

_METHODS = ("DevNet", "REPEN", "DSVDD", "FSNet", "iForest")
_VARIANTS = ("Def", "Rep", "Linear", "3HL")


def _table1() -> dict[str, dict[str, tuple[float, float, float, float]]]:
    out: dict[str, dict[str, tuple[float, float, float, float]]] = {}
    for line in _T1.strip().splitlines():
        name, *vals = line.split()
        v = [float(x) for x in vals]
        roc, pr = v[:10], v[10:]
        out[name] = {m: (roc[2 * i], roc[2 * i + 1], pr[2 * i], pr[2 * i + 1]) for i, m in enumerate(_METHODS)}
    return out


def _table2() -> dict[str, dict[str, tuple[float, float]]]:
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for line in _T2.strip().splitlines():
        name, *vals = line.split()
        v = [float(x) for x in vals]
        out[name] = {m: (v[i], v[4 + i]) for i, m in enumerate(_VARIANTS)}
    return out


TABLE1 = _table1()
TABLE2 = _table2()
#: rows, dimension of Table 1's data sets
TABLE1_META = {
    "donors": (619326, 10), "census": (299285, 500), "fraud": (284807, 29), "celeba": (202599, 39),
    "backdoor": (95329, 196), "URL": (89063, 3231961), "campaign": (41188, 62),
    "news20": (10523, 1355191), "thyroid": (7200, 21),
}
