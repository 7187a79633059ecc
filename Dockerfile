# The pricewise operator image: `docker build -t pricewise:0.1.0 .` from the repository root.
#
# Two stages: the first builds wheels of pricewise and every dependency and installs them into
# a virtual environment (without pip, and without the test suites that numpy and pandas ship:
# about 60 MB); the second copies only that environment onto a clean slim Python, so no build
# backend, wheel or pip cache ends up in the image. At run time nothing is written
# to the image's file system (bytecode is compiled at build time), so the container runs as a
# non-root user with a read-only root file system; HOME and TMPDIR point at /tmp, which the
# Helm chart and deploy/ mount as an emptyDir.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --wheel-dir /wheels . \
 && python -m venv --without-pip /opt/pricewise \
 && pip --python /opt/pricewise/bin/python install --no-index --find-links /wheels \
        --compile pricewise \
 && find /opt/pricewise/lib -depth -type d -name tests -path '*/site-packages/*' \
        -exec rm -rf {} + \
 && /opt/pricewise/bin/pricewise --version \
 && /opt/pricewise/bin/python -c "import pricewise.controller.handlers, pricewise.core.solver"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="pricewise" \
      org.opencontainers.image.description="Cost-aware scheduler for ML training jobs on Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 65532 pricewise \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin pricewise
COPY --from=build /opt/pricewise /opt/pricewise
ENV PATH=/opt/pricewise/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
# metrics (/metrics) and health (/healthz, kopf's liveness endpoint)
EXPOSE 8080 8081
USER 65532:65532
ENTRYPOINT ["pricewise"]
# The chart and deploy/ pass `run --metrics-port 8080 --liveness http://0.0.0.0:8081/healthz`.
CMD ["run"]
