//! A session opened for inference with one checkpoint: what `voxflow eval` and `voxflow show`
//! share. Opening reads builder.toml and config.toml, builds the network on the asked device,
//! restores the checkpoint's weights (refusing one written for another builder.toml, with the
//! checkpoint loader's message), and opens the session's data through the same preprocessing
//! and cache as training, so the network sees exactly the volumes it was trained on.

use crate::data::generators::{Batch, Pair, VolumeSource, assemble, single_pass};
use crate::data::luna::LunaDataset;
use crate::data::preprocess::{Interp, resize_to_grid, to_one_mm};
use crate::data::source::{PreparedSource, cache_dir};
use crate::data::volume::Volume;
use crate::eval::{EvalError, EvalResult};
use crate::models::{BuilderConfig, BuilderKind, Model, NetInputs, NetOutputs, warp_with_grid};
use crate::nn::Adam;
use crate::nn::ParamStore;
use crate::ops::Padding;
use crate::session::config::{DeviceChoice, TrainConfig};
use crate::session::dataset::check_listed_scans;
use crate::session::log::Logger;
use crate::session::{
    BuilderIdentity, CheckpointMeta, IdSet, SessionPaths, latest_checkpoint, load_checkpoint,
    open_session, read_ids, sessions_root,
};
use crate::session::{Overrides, apply_overrides, open_dataset, resolve_data_dir};
use crate::tensor::{Device, Rng, Tensor};
use std::path::{Path, PathBuf};

/// Which session and checkpoint to run, and where.
#[derive(Clone, Debug)]
pub struct InferenceOptions {
    pub session: String,
    /// The sessions root (default `$VOXFLOW_SESSIONS`, else `sessions`).
    pub sessions_dir: Option<PathBuf>,
    /// A checkpoint: a file name in the session's `checkpoints/`, or a path.
    pub weights: PathBuf,
    /// Overrides config.toml's device for this run (config.toml is not changed).
    pub device: Option<DeviceChoice>,
    pub gpu_id: Option<u32>,
}

/// A session with a network restored from a checkpoint, and its data.
pub struct EvalContext {
    pub paths: SessionPaths,
    pub builder: BuilderConfig,
    pub config: TrainConfig,
    pub model: Model,
    pub store: ParamStore,
    /// The checkpoint file restored.
    pub checkpoint: PathBuf,
    pub meta: CheckpointMeta,
    /// The session's data, preprocessed to the network grid (cached as in training).
    pub source: PreparedSource,
    pub device: Device,
}

/// A scan's lung-mask labels prepared like the training masks (nearest-neighbour to 1 mm,
/// then to the network grid) but keeping the label values (LUNA16: 3 right lung, 4 left lung,
/// 5 airway), with the geometry of both grids.
#[derive(Clone, Debug)]
pub struct ScanLabels {
    /// On the network grid; its geometry is the scan's network-grid geometry.
    pub grid: Volume,
    /// On the 1 mm isotropic grid of preprocessing step 1.
    pub iso: Volume,
}

/// The logger of a command run on a session: appends to its logs.txt when the session exists,
/// else prints only (opening the session then reports what is missing). A session that cannot
/// be written to (a shared, read-only one) is still read: the log then says so on stderr.
pub fn session_logger(opts: &InferenceOptions) -> EvalResult<Logger> {
    let paths = SessionPaths::new(&sessions_root(opts.sessions_dir.clone()), &opts.session)?;
    if !paths.dir().is_dir() {
        return Ok(Logger::console());
    }
    Ok(Logger::open(&paths.logs()).unwrap_or_else(|e| {
        eprintln!("warning: {e}; this run is not logged there");
        Logger::console()
    }))
}

/// Passes `result` on, appending its error (if any) to `log`'s file: the command prints it.
pub fn log_error<T>(log: &mut Logger, result: EvalResult<T>) -> EvalResult<T> {
    if let Err(e) = &result {
        log.file_only(&format!("Error: {e}"));
    }
    result
}

impl EvalContext {
    /// Opens session `opts.session` with checkpoint `opts.weights`. Lines worth keeping
    /// (data directory, checkpoint, device) go to `log`.
    pub fn open(opts: &InferenceOptions, log: &mut Logger) -> EvalResult<Self> {
        let root = sessions_root(opts.sessions_dir.clone());
        let paths = open_session(&root, &opts.session)?;
        let builder_text = std::fs::read_to_string(paths.builder())
            .map_err(|e| crate::session::SessionError::io(&paths.builder(), e))?;
        let builder = BuilderConfig::from_toml(&builder_text, &paths.builder())?;
        let mut config = TrainConfig::load(&paths.config())?;
        apply_overrides(
            &mut config,
            &Overrides {
                device: opts.device,
                gpu_id: opts.gpu_id,
                ..Overrides::default()
            },
        );
        let device = config.device();
        let mut store = ParamStore::new();
        let model = Model::build(&builder, &mut store, &mut Rng::new(config.seed), device)?;

        let checkpoint = paths.resolve_checkpoint(&opts.weights);
        if !checkpoint.is_file() {
            let have = match latest_checkpoint(&paths)? {
                Some((epoch, p)) => format!(
                    "the latest checkpoint of session {} is {} (epoch {epoch})",
                    paths.name(),
                    p.display()
                ),
                None => format!("session {} has no checkpoints yet", paths.name()),
            };
            let what = if checkpoint.exists() {
                "is not a checkpoint file"
            } else {
                "does not exist"
            };
            return Err(EvalError::NoCheckpoint {
                path: checkpoint,
                what,
                have,
            });
        }
        let mut adam = Adam::new(config.adam());
        let meta = load_checkpoint(
            &checkpoint,
            &BuilderIdentity::of(&builder_text, &builder),
            &mut store,
            &mut adam,
        )?;
        log.line(&format!(
            "session {} | {} | checkpoint {} (epoch {}) | grid {:?} | device {device}",
            paths.name(),
            builder.kind,
            checkpoint.display(),
            meta.epoch,
            config.shape
        ));
        let data = resolve_data_dir(None, config.data_dir.as_deref(), &root, log)?;
        let dataset = open_dataset(&data, log)?;
        let source = PreparedSource::new(dataset, cache_dir(&data), config.grid())?;
        Ok(EvalContext {
            paths,
            builder,
            config,
            model,
            store,
            checkpoint,
            meta,
            source,
            device,
        })
    }

    /// The network grid `[D, H, W]`.
    pub fn grid(&self) -> [usize; 3] {
        self.source.grid()
    }

    /// The session's dataset.
    pub fn dataset(&self) -> &LunaDataset {
        self.source.dataset()
    }

    /// The transformer's padding (builder.toml).
    pub fn padding(&self) -> Padding {
        self.builder.padding
    }

    /// True when scan `id` has a lung mask.
    pub fn has_mask(&self, id: &str) -> bool {
        self.source.has_mask(id)
    }

    /// The samples of one id set, once each, as the session's generator pairs them
    /// ([`single_pass`]). The error names the id file.
    pub fn pairs(&self, set: IdSet) -> EvalResult<Vec<Pair>> {
        let file = self.paths.ids(set);
        let ids = read_ids(&file)?;
        check_listed_scans(self.dataset(), &file, &ids, false)?;
        single_pass(self.config.generator, &ids, self.config.atlas_id.as_deref()).map_err(|e| {
            EvalError::Usage(format!("{}: the {} set: {e}", file.display(), set.name()))
        })
    }

    /// Runs the network on one pair in inference mode (BatchNorm running statistics), on the
    /// context's device. Returns the batch (on the host) and the outputs.
    pub fn run(&self, pair: &Pair) -> EvalResult<(Batch, NetOutputs)> {
        let mariana = self.builder.kind == BuilderKind::MariaNet;
        let batch = assemble(
            self.config.generator,
            vec![pair.clone()],
            &self.source,
            mariana,
        )?;
        let dev = |t: &Tensor| t.to_device(self.device);
        let (src, tgt) = (dev(&batch.src)?, dev(&batch.tgt)?);
        let src_seg = batch.src_mask.as_ref().map(dev).transpose()?;
        let p = self.store.frozen(false);
        let out = self.model.forward(
            &p,
            &NetInputs {
                src: &src,
                tgt: &tgt,
                src_seg: src_seg.as_ref(),
            },
        )?;
        Ok((batch, out))
    }

    /// Warps a host volume on the network grid (`D·H·W` values) with `grid` `[1,D,H,W,3]`
    /// (trilinear, the builder's padding), back to the host.
    pub fn warp(&self, vol: &[f32], grid: &Tensor) -> EvalResult<Vec<f32>> {
        let [d, h, w] = self.grid();
        let t = Tensor::from_vec(vol.to_vec(), [1, d, h, w, 1], self.device)?;
        Ok(warp_with_grid(&t, grid, self.padding())?.to_vec()?)
    }

    /// The lung-mask labels of scan `id` (see [`ScanLabels`]). The mask is read with its image
    /// and must share its grid, as in training.
    pub fn labels(&self, id: &str) -> EvalResult<ScanLabels> {
        let (_, raw) = self.dataset().load_pair(id)?;
        let iso = to_one_mm(&raw, Interp::Nearest)?;
        let grid = resize_to_grid(&iso, self.grid(), Interp::Nearest)?;
        Ok(ScanLabels { grid, iso })
    }
}

/// A volume with `like`'s dims and geometry holding `data`.
pub fn with_geometry(like: &Volume, data: Vec<f32>, path: &Path) -> EvalResult<Volume> {
    let mut v = Volume::new(data, like.dims, path)?;
    v.spacing = like.spacing;
    v.origin = like.origin;
    v.direction = like.direction;
    Ok(v)
}
