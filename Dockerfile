# syntax=docker/dockerfile:1
# Image for the hotline worker, HTTP gateway and migration job (see docker-compose.yml).
#
#   docker build -t hotline:local .
#   docker run --rm -e TEMPORAL_ADDRESS=... -e DATABASE_URL=... hotline:local python worker.py
#
# Two stages: the project is installed (runtime dependencies only, no test extra) into a
# virtual environment that is copied alone into a clean runtime image run by a non-root user.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Metadata first (README.md is the project's readme in pyproject.toml), then the code.
COPY pyproject.toml README.md ./
COPY hotline ./hotline
COPY workflows ./workflows
COPY activities ./activities
COPY cli ./cli
COPY worker.py starter.py ./
# A regular (non-editable) install: the runtime image does not need /src.
RUN pip install --upgrade pip setuptools wheel && pip install . \
    && python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    HOTLINE_VAR_DIR=/app/var
RUN groupadd --system --gid 10001 hotline \
    && useradd --system --uid 10001 --gid hotline --home-dir /app --shell /usr/sbin/nologin hotline
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The entry scripts beside the installed packages so `python worker.py`,
# `python starter.py ...` and `uvicorn gateway:app` work from the working directory;
# healthcheck.py for compose.
COPY --chown=hotline:hotline worker.py starter.py gateway.py ./
COPY --chown=hotline:hotline deploy/healthcheck.py ./healthcheck.py
RUN mkdir -p /app/var && chown hotline:hotline /app/var
USER hotline:hotline
EXPOSE 8000
# The gateway; compose runs the worker and the migration job from the same image.
CMD ["uvicorn", "gateway:app", "--host", "0.0.0.0", "--port", "8000"]
