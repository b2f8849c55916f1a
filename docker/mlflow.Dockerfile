# The compose file's tracking server: MLflow and the PostgreSQL driver, nothing else
# (no torch, no CUDA: a few hundred MB instead of the al4ml image's gigabytes).
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install "mlflow>=2.12" "psycopg[binary]>=3.1" \
    && useradd --create-home --uid 1000 mlflow && mkdir /mlartifacts && chown mlflow /mlartifacts
USER mlflow
ENTRYPOINT ["mlflow"]
