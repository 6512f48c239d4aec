#!/usr/bin/env bash
# Build the bundled model's training set from the emoji packages on the npm registry.
#   scripts/build-bundled-data.sh DATA_DIR
# Installs the artwork into DATA_DIR/npm (never into the repository) and writes the captioned,
# encoded training set into DATA_DIR. `dreamloom train bundled` does the same when needed.
set -euo pipefail
data_dir="${1:?usage: $0 DATA_DIR}"
python="${PYTHON:-python}"
mkdir -p "$data_dir/npm"
npm install --no-save --prefix "$data_dir/npm" emoji-datasource-google@16.0.0 fluentui-emoji@1.3.0
"$python" - "$data_dir" <<'PY'
import sys
from pathlib import Path

import torch

from dreamloom.bundled.dataset import build_dataset

torch.set_num_threads(2)
data = Path(sys.argv[1])
build_dataset(data, node_modules=data / "npm" / "node_modules", progress=print)
PY
