#!/usr/bin/env python3
"""The image's HEALTHCHECK: exit 0 when GET /readyz on this container answers 200, else 1."""

import os
import sys
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('RAG_PORT') or '8000'}/readyz"
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
try:
    with opener.open(url, timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # any failure is "not ready"
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)
