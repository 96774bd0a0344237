"""The optional compiled loops: the artifact thresholds (processing/artifacts/_kernels.c) and the baseline's
weighted median and MAD (processing/_robust.c).

Everything else is in pyproject.toml. ``optional=True``: without a C compiler (the slim Docker image) the
package installs without the modules and processing.artifacts.thresholds and processing.baseline use
numpy alone, with the same results; CI builds them and tests that both give the same numbers bit for bit.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "processing.artifacts._kernels",
            [
                "processing/artifacts/_kernels.c",
                "processing/artifacts/_rules.c",
                "processing/artifacts/_detect.c",
            ],
            depends=["processing/artifacts/_kernels.h"],
            extra_compile_args=["-O2", "-ffp-contract=off"],
            optional=True,
        ),
        Extension(
            "processing._robust",
            ["processing/_robust.c"],
            extra_compile_args=["-O2", "-ffp-contract=off"],
            optional=True,
        ),
    ]
)
