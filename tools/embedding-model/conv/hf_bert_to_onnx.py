"""Build an ONNX graph for a BERT encoder (HF BertModel safetensors) with mean pooling and
L2 normalisation, using only the onnx package (no torch). Inputs: input_ids, attention_mask
(int64 [batch, seq]). Outputs: last_hidden_state [b,s,H], sentence_embedding [b,H].
--fp16-emb stores the word-embedding table as float16 (cast after Gather) to halve the file."""
import json, sys, os
import numpy as np
import onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
from safetensors.numpy import load_file

d, out = sys.argv[1], sys.argv[2]
fp16_emb = '--fp16-emb' in sys.argv
cfg = json.load(open(os.path.join(d, 'config.json')))
W = load_file(os.path.join(d, 'model.safetensors'))
H, NL, NH, FF, eps = cfg['hidden_size'], cfg['num_hidden_layers'], cfg['num_attention_heads'], cfg['intermediate_size'], cfg['layer_norm_eps']
hd = H // NH
inits, nodes = [], []
def init(name, arr):
    inits.append(nh.from_array(np.ascontiguousarray(arr), name)); return name
def node(op, ins, outs=None, **kw):
    outs = outs or [f'{op}_{len(nodes)}']
    nodes.append(h.make_node(op, ins, outs, name=f'n{len(nodes)}_{op}', **kw)); return outs[0]
c = lambda name, arr: init(name, np.array(arr))

we = W['embeddings.word_embeddings.weight']
if fp16_emb:
    x = node('Cast', [node('Gather', [init('word_emb', we.astype(np.float16)), 'input_ids'])], to=T.FLOAT)
else:
    x = node('Gather', [init('word_emb', we), 'input_ids'])
# position ids 0..S-1 per row, as CumSum(ones)-1 (a Range here trips ORT's GatherToSlice fusion)
ones = node('Add', [node('Mul', ['input_ids', c('zero_i64', np.array(0, np.int64))]), c('one_i64', np.array(1, np.int64))])
pos = node('Sub', [node('CumSum', [ones, c('cs_axis', np.array(1, np.int64))]), c('one_i64b', np.array(1, np.int64))])
x = node('Add', [x, node('Gather', [init('pos_emb', W['embeddings.position_embeddings.weight']), pos])])
x = node('Add', [x, init('type0', W['embeddings.token_type_embeddings.weight'][0])])
x = node('LayerNormalization', [x, init('eln_w', W['embeddings.LayerNorm.weight']), init('eln_b', W['embeddings.LayerNorm.bias'])], axis=-1, epsilon=eps)
# additive attention mask [b,1,1,s]
maskf = node('Cast', ['attention_mask'], to=T.FLOAT)
mask4 = node('Unsqueeze', [maskf, c('ax12', np.array([1, 2], np.int64))])
addmask = node('Mul', [node('Sub', [c('onef', np.array(1.0, np.float32)), mask4]), c('neg', np.array(-10000.0, np.float32))])
split_shape = c('split_shape', np.array([0, 0, NH, hd], np.int64))
merge_shape = c('merge_shape', np.array([0, 0, H], np.int64))
scale = c('scale', np.array(1.0 / np.sqrt(hd), np.float32))
for l in range(NL):
    P = f'encoder.layer.{l}.'
    def lin(inp, name):
        w = init(P + name + '.wT', W[P + name + '.weight'].T); b = init(P + name + '.b', W[P + name + '.bias'])
        return node('Add', [node('MatMul', [inp, w]), b])
    def heads(t, perm):
        return node('Transpose', [node('Reshape', [t, split_shape])], perm=perm)
    q = heads(lin(x, 'attention.self.query'), [0, 2, 1, 3])
    k = heads(lin(x, 'attention.self.key'), [0, 2, 3, 1])
    v = heads(lin(x, 'attention.self.value'), [0, 2, 1, 3])
    sc = node('Add', [node('Mul', [node('MatMul', [q, k]), scale]), addmask])
    pr = node('Softmax', [sc], axis=-1)
    ctx = node('Reshape', [node('Transpose', [node('MatMul', [pr, v])], perm=[0, 2, 1, 3]), merge_shape])
    ao = lin(ctx, 'attention.output.dense')
    x = node('LayerNormalization', [node('Add', [ao, x]), init(P + 'aln_w', W[P + 'attention.output.LayerNorm.weight']), init(P + 'aln_b', W[P + 'attention.output.LayerNorm.bias'])], axis=-1, epsilon=eps)
    mid = lin(x, 'intermediate.dense')
    # exact gelu: 0.5*x*(1+erf(x/sqrt2))
    g = node('Mul', [node('Mul', [mid, c(f'half{l}', np.array(0.5, np.float32))]),
                     node('Add', [node('Erf', [node('Div', [mid, c(f'sq2{l}', np.array(np.sqrt(2.0), np.float32))])]), c(f'one{l}', np.array(1.0, np.float32))])])
    fo = lin(g, 'output.dense')
    x = node('LayerNormalization', [node('Add', [fo, x]), init(P + 'oln_w', W[P + 'output.LayerNorm.weight']), init(P + 'oln_b', W[P + 'output.LayerNorm.bias'])], axis=-1, epsilon=eps)
node('Identity', [x], ['last_hidden_state'])
# mean pooling over mask, then L2 normalise
m3 = node('Unsqueeze', [maskf, c('ax2', np.array([2], np.int64))])
summed = node('ReduceSum', [node('Mul', [x, m3]), c('ax1', np.array([1], np.int64))], keepdims=0)
cnt = node('Max', [node('ReduceSum', [m3, c('ax1b', np.array([1], np.int64))], keepdims=0), c('tiny', np.array(1e-9, np.float32))])
mean = node('Div', [summed, cnt])
nrm = node('Max', [node('Sqrt', [node('ReduceSum', [node('Mul', [mean, mean]), c('axm1', np.array([-1], np.int64))], keepdims=1)]), c('tiny2', np.array(1e-12, np.float32))])
node('Div', [mean, nrm], ['sentence_embedding'])
g = h.make_graph(nodes, 'bert_mean_pool',
                 [h.make_tensor_value_info('input_ids', T.INT64, ['batch', 'seq']), h.make_tensor_value_info('attention_mask', T.INT64, ['batch', 'seq'])],
                 [h.make_tensor_value_info('last_hidden_state', T.FLOAT, ['batch', 'seq', H]), h.make_tensor_value_info('sentence_embedding', T.FLOAT, ['batch', H])],
                 inits)
model = h.make_model(g, opset_imports=[h.make_opsetid('', 17)], producer_name='switchboard-embed-research')
model.ir_version = 8
onnx.checker.check_model(model, full_check=False) if model.ByteSize() < 2**31 - 1 else None
onnx.save(model, out)
print('saved', out, os.path.getsize(out) // 2**20, 'MiB')
