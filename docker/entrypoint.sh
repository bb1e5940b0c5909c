#!/bin/sh
# The image's entrypoint.
#   serve [ARGS]   (the default) bring the index of RAG_SEEDS_DIR up to date, then serve on RAG_HOST:RAG_PORT
#                  (`rag serve --update-index`: in one process, a third of a second sooner than `rag index`
#                  first). That does nothing when the index matches the documents, the model and the chunking
#                  settings, and rebuilds it (atomically) when they changed, e.g. when a folder was mounted.
#   PROGRAM ...    run PROGRAM when it is a program on PATH (sh, python ...),
#   ARGS ...       else `rag ARGS ...` (model, ask, docs, search, index, eval ...).
set -eu

if [ "$#" -eq 0 ] || [ "$1" = serve ]; then
  [ "$#" -eq 0 ] || shift
  exec rag serve --update-index "$@"
fi
case "$(command -v "$1" 2>/dev/null || true)" in
  /*) exec "$@" ;; # a program, not a shell builtin such as `eval`
esac
exec rag "$@"
