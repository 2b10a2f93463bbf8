# A container for scheduled crawl jobs: settings from CRAWLER_* variables, JSON logs,
# the database on the /data volume so the next run resumes where this one stopped.
#   docker build -t crawler .
# BASE is any Debian-like image with Python 3.11+ as python3 (and its venv module).
ARG BASE=python:3.11-slim

# The dependencies, read from pyproject.toml: the install below is redone only when they change.
FROM ${BASE} AS requirements
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); \
print(*p['build-system']['requires'], *p['project']['dependencies'], sep=chr(10))" \
    > requirements.txt

FROM ${BASE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CRAWLER_DB=/data/crawl.db \
    CRAWLER_LOG_FORMAT=json \
    CRAWLER_PROGRESS=false

COPY --from=requirements /src/requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
    && pip install --no-cache-dir --requirement /tmp/requirements.txt \
    && groupadd --gid 10001 crawler \
    && useradd --no-log-init --uid 10001 --gid crawler --create-home crawler \
    && mkdir /data && chown crawler:crawler /data

# Then the source: a change to it rebuilds only this layer, without the network.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY crawler ./crawler
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && rm -rf build ./*.egg-info

USER 10001:10001
WORKDIR /data
VOLUME /data
ENTRYPOINT ["python", "-m", "crawler"]
CMD ["--help"]
