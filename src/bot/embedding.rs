//! Sentence embeddings for the built-in bot's optional semantic stage: a multilingual
//! transformer in ONNX format, run through ONNX Runtime (the `ort` crate, with the
//! runtime library opened at run time from a path), with the model's own
//! `tokenizer.json`.
//!
//! A model directory holds `tokenizer.json` and one ONNX file (`model_int8.onnx`,
//! `model.onnx`, `model_quantized.onnx` or `onnx/model.onnx`, in that order), or the
//! model is named as the `.onnx` file itself with `tokenizer.json` beside it. The graph
//! takes `input_ids` and `attention_mask` (int64, `[batch, tokens]`; `token_type_ids`
//! too if it asks for them) and gives either `sentence_embedding` (pooled) or
//! `last_hidden_state`, which is mean-pooled over the mask here. Every vector is
//! L2-normalised, so the dot product of two is their cosine.
//!
//! One model is loaded once per process and shared by every tenant that names it
//! ([`Embedder::shared`]): with the int8 multilingual-e5-small, the model, the runtime
//! and the 250k-piece tokenizer take about 450 MiB resident (`examples/semantic_cost`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use tokenizers::Tokenizer;

/// Default text put before every message and every entry question: e5 models expect
/// `"query: "` on both sides of a symmetric comparison.
pub const DEFAULT_PREFIX: &str = "query: ";

/// Default text put before an entry's question-and-answer passage: what e5 models
/// expect on the side that is searched.
pub const DEFAULT_PASSAGE_PREFIX: &str = "passage: ";

/// Default most tokens read of one text; longer texts are cut (a customer question
/// rarely needs more, and the cost grows with the length).
pub const DEFAULT_MAX_TOKENS: usize = 128;

/// Highest `max_tokens` accepted: the position table of BERT-sized models.
pub const MAX_MAX_TOKENS: usize = 512;

/// ONNX files looked for in a model directory, in this order.
const MODEL_FILES: [&str; 4] = [
    "model_int8.onnx",
    "model.onnx",
    "model_quantized.onnx",
    "onnx/model.onnx",
];

/// Where the model and the runtime are, and how texts are prepared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmbedderSettings {
    /// The model directory (or its `.onnx` file).
    pub model: PathBuf,
    /// The ONNX Runtime shared library (`libonnxruntime.so`); `None` = the
    /// `ORT_DYLIB_PATH` environment variable, then the system's library path.
    pub runtime: Option<PathBuf>,
    /// Text put before every message and entry question embedded (see
    /// [`DEFAULT_PREFIX`]); models with a ragged input take none.
    pub prefix: String,
    /// Text put before an entry's question-and-answer passage (see
    /// [`DEFAULT_PASSAGE_PREFIX`]).
    pub passage_prefix: String,
    /// Most tokens read of one text (see [`DEFAULT_MAX_TOKENS`]).
    pub max_tokens: usize,
}

impl EmbedderSettings {
    /// Settings for `model` with the defaults.
    pub fn new(model: impl Into<PathBuf>) -> EmbedderSettings {
        EmbedderSettings {
            model: model.into(),
            runtime: None,
            prefix: DEFAULT_PREFIX.to_owned(),
            passage_prefix: DEFAULT_PASSAGE_PREFIX.to_owned(),
            max_tokens: DEFAULT_MAX_TOKENS,
        }
    }
}

/// A model that cannot be loaded or run.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct EmbeddingError(String);

/// The files of a model: its ONNX graph and its tokenizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The ONNX file.
    pub onnx: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
}

/// Finds a model's files without loading them; the error names what is missing, so a
/// configuration can be checked cheaply at start-up.
pub fn model_files(model: &Path) -> Result<ModelFiles, EmbeddingError> {
    let fail = |what: String| Err(EmbeddingError(format!("model {}: {what}", model.display())));
    if model.is_file() {
        let Some(dir) = model.parent() else {
            return fail("has no directory".to_owned());
        };
        let tokenizer = dir.join("tokenizer.json");
        if !tokenizer.is_file() {
            return fail(format!(
                "no tokenizer.json beside it ({})",
                tokenizer.display()
            ));
        }
        return Ok(ModelFiles {
            onnx: model.to_owned(),
            tokenizer,
        });
    }
    if !model.is_dir() {
        return fail("no such file or directory".to_owned());
    }
    let tokenizer = model.join("tokenizer.json");
    if !tokenizer.is_file() {
        return fail("tokenizer.json is missing".to_owned());
    }
    match MODEL_FILES
        .iter()
        .map(|f| model.join(f))
        .find(|p| p.is_file())
    {
        Some(onnx) => Ok(ModelFiles { onnx, tokenizer }),
        None => fail(format!(
            "no ONNX model file (looked for {})",
            MODEL_FILES.join(", ")
        )),
    }
}

/// What the graph is fed and what it gives.
#[derive(Debug, Clone, Copy)]
enum Graph {
    /// A BERT-style graph: `input_ids` and `attention_mask` in, `[batch, tokens]`.
    Padded {
        /// It takes `token_type_ids` as well.
        token_types: bool,
        /// It gives a pooled `sentence_embedding`; otherwise `last_hidden_state` is
        /// pooled here.
        pooled: bool,
    },
    /// A ragged graph (Universal Sentence Encoder): every text's token ids end to end
    /// in `token_ids` (int32) and their bounds in `row_splits` (int64, `batch + 1`),
    /// one vector per text out of `outputs`. Such models take no prefix.
    Ragged,
}

/// A loaded sentence-embedding model; shared across threads (one run at a time: ONNX
/// Runtime sessions in `ort` run through `&mut`, and one intra-op thread per run is
/// what a shared two-core box does best).
pub struct Embedder {
    settings: EmbedderSettings,
    tokenizer: Tokenizer,
    session: Mutex<Session>,
    graph: Graph,
    dimensions: usize,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model", &self.settings.model)
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

/// The process's ONNX Runtime environment: one per process, made with the first
/// runtime library asked for, and kept alive for the life of the process.
fn environment(
    runtime: Option<&Path>,
) -> Result<&'static ort::environment::Environment, EmbeddingError> {
    static ENV: OnceLock<Result<(Option<PathBuf>, ort::environment::Environment), String>> =
        OnceLock::new();
    let made = ENV.get_or_init(|| {
        let path = runtime
            .map(Path::to_owned)
            .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from));
        let library = path
            .clone()
            .unwrap_or_else(|| PathBuf::from("libonnxruntime.so"));
        let builder = ort::init_from(&library).map_err(|e| {
            format!(
                "ONNX Runtime library {}: {e} (set bot.onnxruntime or ORT_DYLIB_PATH)",
                library.display()
            )
        })?;
        let env = builder
            .with_name("switchboard")
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("ONNX Runtime environment: {e}"))?;
        Ok((path, env))
    });
    match made {
        Ok((loaded, env)) => {
            if let Some(asked) = runtime
                && loaded.as_deref() != Some(asked)
            {
                tracing::warn!(asked = %asked.display(), loaded = ?loaded,
                    "one ONNX Runtime library per process: the one loaded first is used");
            }
            Ok(env)
        }
        Err(e) => Err(EmbeddingError(e.clone())),
    }
}

impl Embedder {
    /// The model for `settings`, loaded on first use and then shared by everyone who
    /// asks for the same settings (a second tenant on the same model costs nothing).
    pub fn shared(settings: &EmbedderSettings) -> Result<Arc<Embedder>, EmbeddingError> {
        static LOADED: OnceLock<Mutex<HashMap<EmbedderSettings, Arc<Embedder>>>> = OnceLock::new();
        let loaded = LOADED.get_or_init(Mutex::default);
        let mut loaded = loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = loaded.get(settings) {
            return Ok(e.clone());
        }
        let embedder = Arc::new(Embedder::load(settings)?);
        loaded.insert(settings.clone(), embedder.clone());
        Ok(embedder)
    }

    /// Loads the model (about a second for multilingual-e5-small int8). The error names
    /// the file or the setting at fault.
    pub fn load(settings: &EmbedderSettings) -> Result<Embedder, EmbeddingError> {
        if settings.max_tokens < 8 || settings.max_tokens > MAX_MAX_TOKENS {
            return Err(EmbeddingError(format!(
                "max_tokens must be 8-{MAX_MAX_TOKENS}, not {}",
                settings.max_tokens
            )));
        }
        let files = model_files(&settings.model)?;
        let env = environment(settings.runtime.as_deref())?;
        let mut tokenizer = Tokenizer::from_file(&files.tokenizer)
            .map_err(|e| EmbeddingError(format!("tokenizer {}: {e}", files.tokenizer.display())))?;
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: settings.max_tokens,
                ..Default::default()
            }))
            .map_err(|e| EmbeddingError(format!("tokenizer truncation: {e}")))?;
        tokenizer.with_padding(None);
        let onnx_error = |e: &dyn std::fmt::Display| {
            EmbeddingError(format!("model {}: {e}", files.onnx.display()))
        };
        let session = Session::builder(env)
            .map_err(|e| onnx_error(&e))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| onnx_error(&e))?
            .with_intra_threads(1)
            .map_err(|e| onnx_error(&e))?
            .with_inter_threads(1)
            .map_err(|e| onnx_error(&e))?
            // Spinning threads would take the cores the streams need between runs.
            .with_intra_op_spinning(false)
            .map_err(|e| onnx_error(&e))?
            .commit_from_file(&files.onnx)
            .map_err(|e| onnx_error(&e))?;
        let has_input = |name: &str| session.inputs().iter().any(|i| i.name() == name);
        let has_output = |name: &str| session.outputs().iter().any(|o| o.name() == name);
        let graph = if has_input("token_ids") && has_input("row_splits") {
            if !has_output("outputs") {
                return Err(onnx_error(&"a ragged graph must give \"outputs\""));
            }
            Graph::Ragged
        } else {
            for needed in ["input_ids", "attention_mask"] {
                if !has_input(needed) {
                    return Err(onnx_error(&format!("the graph has no input {needed:?}")));
                }
            }
            let graph = Graph::Padded {
                token_types: has_input("token_type_ids"),
                pooled: has_output("sentence_embedding"),
            };
            if !has_output("sentence_embedding") && !has_output("last_hidden_state") {
                return Err(onnx_error(
                    &"the graph gives neither \"sentence_embedding\" nor \"last_hidden_state\"",
                ));
            }
            graph
        };
        let mut embedder = Embedder {
            settings: settings.clone(),
            tokenizer,
            session: Mutex::new(session),
            graph,
            dimensions: 0,
        };
        let probe = embedder.embed_batch(&["ok"])?;
        embedder.dimensions = probe.first().map_or(0, Vec::len);
        if embedder.dimensions == 0 {
            return Err(onnx_error(&"the graph gives empty embeddings"));
        }
        Ok(embedder)
    }

    /// The settings it was loaded with.
    pub fn settings(&self) -> &EmbedderSettings {
        &self.settings
    }

    /// Length of every vector.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// One text's unit vector, read as a customer message (with `prefix`).
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EmbeddingError> {
        self.embed_as(&self.settings.prefix, text)
    }

    /// One text's unit vector, read as a passage to be found (with `passage_prefix`):
    /// e5 models are trained to compare a `query: ` with a `passage: `.
    pub fn embed_passage(&self, text: &str) -> Result<Vec<f32>, EmbeddingError> {
        self.embed_as(&self.settings.passage_prefix, text)
    }

    fn embed_as(&self, prefix: &str, text: &str) -> Result<Vec<f32>, EmbeddingError> {
        let mut out = self.run(prefix, &[text])?;
        out.pop()
            .ok_or_else(|| EmbeddingError("the model gave no embedding".to_owned()))
    }

    /// Unit vectors of many texts, in order, each run on its own, exactly as a message
    /// is: an int8 model quantises its activations per run (one scale over the whole
    /// batch), so a text's vector would shift with its batch-mates and their padding.
    pub fn embed_all(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
        texts.iter().map(|t| self.embed(t)).collect()
    }

    /// Unit vectors of one batch of texts, in order, in one run. With a dynamically
    /// quantised (int8) model the vectors depend slightly on the batch (cosine about
    /// 0.99 to the text alone); [`Embedder::embed_all`] runs texts one by one.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
        self.run(&self.settings.prefix, texts)
    }

    fn run(&self, prefix: &str, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbeddingError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let prefix = match self.graph {
            Graph::Ragged => "",
            Graph::Padded { .. } => prefix,
        };
        let mut encodings = Vec::with_capacity(texts.len());
        for text in texts {
            let prefixed = format!("{prefix}{text}");
            let encoding = self
                .tokenizer
                .encode(prefixed.as_str(), true)
                .map_err(|e| EmbeddingError(format!("tokenizer: {e}")))?;
            encodings.push(encoding);
        }
        let fail = |e: &dyn std::fmt::Display| EmbeddingError(format!("embedding run: {e}"));
        let Graph::Padded {
            token_types,
            pooled,
        } = self.graph
        else {
            return self.run_ragged(&encodings);
        };
        let rows = encodings.len();
        let width = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut ids = vec![0i64; rows * width];
        let mut mask = vec![0i64; rows * width];
        for (r, e) in encodings.iter().enumerate() {
            for (c, (&id, &m)) in e.get_ids().iter().zip(e.get_attention_mask()).enumerate() {
                ids[r * width + c] = i64::from(id);
                mask[r * width + c] = i64::from(m);
            }
        }
        let shape = [rows as i64, width as i64];
        let tensor = |data: Vec<i64>| Tensor::from_array((shape, data)).map_err(|e| fail(&e));
        let mut inputs = vec![
            ("input_ids", tensor(ids)?),
            ("attention_mask", tensor(mask.clone())?),
        ];
        if token_types {
            inputs.push(("token_type_ids", tensor(vec![0i64; rows * width])?));
        }
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session.run(inputs).map_err(|e| fail(&e))?;
        let name = if pooled {
            "sentence_embedding"
        } else {
            "last_hidden_state"
        };
        let (out_shape, data) = outputs
            .get(name)
            .ok_or_else(|| fail(&format!("no output {name:?}")))?
            .try_extract_tensor::<f32>()
            .map_err(|e| fail(&e))?;
        let dims: Vec<i64> = out_shape.iter().copied().collect();
        let vectors = if pooled {
            match dims.as_slice() {
                [r, d] if *r as usize == rows => data
                    .chunks(*d as usize)
                    .map(|v| normalised(v.to_vec()))
                    .collect(),
                _ => return Err(fail(&format!("sentence_embedding has shape {dims:?}"))),
            }
        } else {
            match dims.as_slice() {
                [r, s, d] if *r as usize == rows && *s as usize == width => {
                    mean_pooled(data, &mask, rows, width, *d as usize)
                }
                _ => return Err(fail(&format!("last_hidden_state has shape {dims:?}"))),
            }
        };
        Ok(vectors)
    }

    /// [`Embedder::run`] for a [`Graph::Ragged`] model.
    fn run_ragged(
        &self,
        encodings: &[tokenizers::Encoding],
    ) -> Result<Vec<Vec<f32>>, EmbeddingError> {
        let fail = |e: &dyn std::fmt::Display| EmbeddingError(format!("embedding run: {e}"));
        let mut ids: Vec<i32> = Vec::new();
        let mut splits: Vec<i64> = vec![0];
        for e in encodings {
            for &id in e.get_ids() {
                ids.push(i32::try_from(id).map_err(|_| fail(&"a token id beyond i32"))?);
            }
            splits.push(ids.len() as i64);
        }
        let rows = encodings.len();
        let ids_shape = [ids.len() as i64];
        let splits_shape = [splits.len() as i64];
        let inputs = vec![
            (
                "token_ids",
                Tensor::from_array((ids_shape, ids))
                    .map_err(|e| fail(&e))?
                    .into_dyn(),
            ),
            (
                "row_splits",
                Tensor::from_array((splits_shape, splits))
                    .map_err(|e| fail(&e))?
                    .into_dyn(),
            ),
        ];
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session.run(inputs).map_err(|e| fail(&e))?;
        let (out_shape, data) = outputs
            .get("outputs")
            .ok_or_else(|| fail(&"no output \"outputs\""))?
            .try_extract_tensor::<f32>()
            .map_err(|e| fail(&e))?;
        let dims: Vec<i64> = out_shape.iter().copied().collect();
        match dims.as_slice() {
            [r, d] if *r as usize == rows && *d > 0 => Ok(data
                .chunks(*d as usize)
                .map(|v| normalised(v.to_vec()))
                .collect()),
            _ => Err(fail(&format!("outputs has shape {dims:?}"))),
        }
    }
}

/// Mean of each row's token vectors where the mask is set, normalised.
fn mean_pooled(
    data: &[f32],
    mask: &[i64],
    rows: usize,
    width: usize,
    dims: usize,
) -> Vec<Vec<f32>> {
    (0..rows)
        .map(|r| {
            let mut sum = vec![0.0f32; dims];
            for t in 0..width {
                if mask[r * width + t] != 0 {
                    let start = (r * width + t) * dims;
                    for (s, v) in sum.iter_mut().zip(&data[start..start + dims]) {
                        *s += v;
                    }
                }
            }
            normalised(sum)
        })
        .collect()
}

/// `v` scaled to length 1 (left as is when it is all zeros).
pub fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Dot product; the cosine of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_is_named_with_what_is_missing() {
        let e = model_files(Path::new("/no/such/model")).unwrap_err();
        assert!(e.to_string().contains("/no/such/model"), "{e}");
        let dir = std::env::temp_dir().join(format!("sb-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = model_files(&dir).unwrap_err();
        assert!(e.to_string().contains("tokenizer.json is missing"), "{e}");
        std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
        let e = model_files(&dir).unwrap_err();
        assert!(e.to_string().contains("no ONNX model file"), "{e}");
        std::fs::write(dir.join("model.onnx"), "").unwrap();
        assert_eq!(model_files(&dir).unwrap().onnx, dir.join("model.onnx"));
        std::fs::write(dir.join("model_int8.onnx"), "").unwrap();
        assert_eq!(model_files(&dir).unwrap().onnx, dir.join("model_int8.onnx"));
        let direct = model_files(&dir.join("model.onnx")).unwrap();
        assert_eq!(direct.tokenizer, dir.join("tokenizer.json"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn mean_pooling_ignores_padding_and_normalises() {
        // Two rows of two tokens, 2-d; the second row's second token is padding.
        let data = [1.0, 0.0, 0.0, 1.0, 3.0, 4.0, 100.0, 100.0];
        let mask = [1, 1, 1, 0];
        let v = mean_pooled(&data, &mask, 2, 2, 2);
        let s = std::f32::consts::FRAC_1_SQRT_2;
        assert!((v[0][0] - s).abs() < 1e-6 && (v[0][1] - s).abs() < 1e-6);
        assert!((v[1][0] - 0.6).abs() < 1e-6 && (v[1][1] - 0.8).abs() < 1e-6);
        assert_eq!(normalised(vec![0.0, 0.0]), vec![0.0, 0.0]);
        assert!((dot(&v[1], &v[1]) - 1.0).abs() < 1e-6);
    }
}
