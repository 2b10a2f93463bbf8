# A container for scheduled crawl jobs: settings from CRAWLER_* variables, JSON logs,
# the database on the /data volume so the next run resumes where this one stopped.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CRAWLER_DB=/data/crawl.db \
    CRAWLER_LOG_FORMAT=json \
    CRAWLER_PROGRESS=false

WORKDIR /src
COPY pyproject.toml README.md ./
COPY crawler ./crawler
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 crawler \
    && mkdir /data && chown crawler /data

USER crawler
WORKDIR /data
VOLUME /data
ENTRYPOINT ["python", "-m", "crawler"]
CMD ["--help"]
