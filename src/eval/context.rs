//! A session opened for inference with one checkpoint and its data: what `voxflow eval` and
//! `voxflow show` share. The network is the session's [`Network`]; the data is opened through
//! the same preprocessing and cache as training, so the network sees exactly the volumes it
//! was trained on.

use crate::data::generators::{Batch, Pair, VolumeSource, assemble, single_pass};
use crate::data::luna::LunaDataset;
use crate::data::preprocess::{Interp, resize_to_grid, to_one_mm};
use crate::data::source::{PreparedSource, cache_dir};
use crate::data::volume::Volume;
use crate::eval::{EvalError, EvalResult};
use crate::models::{BuilderKind, NetOutputs, warp_with_grid};
use crate::ops::Padding;
use crate::session::dataset::check_listed_scans;
use crate::session::log::Logger;
use crate::session::{
    IdSet, SessionPaths, open_dataset, read_ids, resolve_data_dir, sessions_root,
};
pub use crate::session::{InferenceOptions, Network};
use crate::tensor::Tensor;
use std::path::Path;

/// A session with a network restored from a checkpoint, and its data.
pub struct EvalContext {
    pub net: Network,
    /// The session's data, preprocessed to the network grid (cached as in training).
    pub source: PreparedSource,
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
    /// Opens session `opts.session` with checkpoint `opts.weights` ([`Network::open`]) and
    /// its data. Lines worth keeping (data directory, checkpoint, device) go to `log`.
    pub fn open(opts: &InferenceOptions, log: &mut Logger) -> EvalResult<Self> {
        let net = Network::open(opts, log)?;
        let root = sessions_root(opts.sessions_dir.clone());
        let data = resolve_data_dir(None, net.config.data_dir.as_deref(), &root, log)?;
        let dataset = open_dataset(&data, log)?;
        let source = PreparedSource::new(dataset, cache_dir(&data), net.config.grid())?;
        Ok(EvalContext { net, source })
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
        self.net.builder.padding
    }

    /// True when scan `id` has a lung mask.
    pub fn has_mask(&self, id: &str) -> bool {
        self.source.has_mask(id)
    }

    /// The samples of one id set, once each, as the session's generator pairs them
    /// ([`single_pass`]). The error names the id file.
    pub fn pairs(&self, set: IdSet) -> EvalResult<Vec<Pair>> {
        let file = self.net.paths.ids(set);
        let ids = read_ids(&file)?;
        check_listed_scans(self.dataset(), &file, &ids, false)?;
        let config = &self.net.config;
        single_pass(config.generator, &ids, config.atlas_id.as_deref()).map_err(|e| {
            EvalError::Usage(format!("{}: the {} set: {e}", file.display(), set.name()))
        })
    }

    /// Runs the network on one pair in inference mode (BatchNorm running statistics), on the
    /// context's device. Returns the batch (on the host) and the outputs.
    pub fn run(&self, pair: &Pair) -> EvalResult<(Batch, NetOutputs)> {
        let mariana = self.net.builder.kind == BuilderKind::MariaNet;
        let batch = assemble(
            self.net.config.generator,
            vec![pair.clone()],
            &self.source,
            mariana,
        )?;
        let out = self
            .net
            .forward(&batch.src, &batch.tgt, batch.src_mask.as_ref())?;
        Ok((batch, out))
    }

    /// Warps a host volume on the network grid (`D·H·W` values) with `grid` `[1,D,H,W,3]`
    /// (trilinear, the builder's padding), back to the host.
    pub fn warp(&self, vol: &[f32], grid: &Tensor) -> EvalResult<Vec<f32>> {
        let [d, h, w] = self.grid();
        let t = Tensor::from_vec(vol.to_vec(), [1, d, h, w, 1], self.net.device)?;
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
