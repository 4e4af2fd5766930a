# scrape-agent container image: slim Python 3.11, non-root (uid/gid 65532), read-only root FS ready.
#   docker build -t ghcr.io/scrape-agent/scrape-agent:0.1.0 .
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY relabel ./relabel
RUN python -m venv /opt/scrape-agent \
 && /opt/scrape-agent/bin/pip install --upgrade pip \
 && /opt/scrape-agent/bin/pip install .

FROM python:3.11-slim
LABEL org.opencontainers.image.title="scrape-agent" \
      org.opencontainers.image.description="Prometheus-compatible scraper that pushes OTLP metrics" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/scrape-agent/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/scrape-agent /opt/scrape-agent
RUN groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin nonroot \
 && mkdir -p /var/lib/scrape-agent /etc/scrape-agent \
 && chown 65532:65532 /var/lib/scrape-agent
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["scrape-agent"]
CMD ["run", "--config.file=/etc/scrape-agent/config.yaml", "--storage.path=/var/lib/scrape-agent", "--web.listen-address=0.0.0.0:9464"]
