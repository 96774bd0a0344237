"""The optional compiled loops of the artifact thresholds (processing/artifacts/_kernels.c).

Everything else is in pyproject.toml. ``optional=True``: without a C compiler (the slim Docker image) the
package installs without the module and processing.artifacts.thresholds uses numpy alone, with the same
results; CI builds it and tests that both give the same numbers bit for bit.
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
        )
    ]
)
