//! A session's network restored from one checkpoint, for inference: what `eval`, `show` and
//! `register --session` share. Opening reads builder.toml and config.toml, builds the network
//! on the asked device and restores the checkpoint's weights (refusing one written for another
//! builder.toml, with the checkpoint loader's message). [`Network::predict`] registers any two
//! volumes with it, preprocessed as in training, and returns the map in physical space.

use super::config::{DeviceChoice, TrainConfig};
use super::log::Logger;
use super::{
    BuilderIdentity, CheckpointMeta, Overrides, SessionError, SessionPaths, apply_overrides,
    latest_checkpoint, load_checkpoint, open_session, sessions_root,
};
use crate::data::preprocess::{preprocess_image, preprocess_mask};
use crate::data::volume::Volume;
use crate::models::{BuilderConfig, Model, NetInputs, NetOutputs};
use crate::nn::{Adam, ParamStore};
use crate::registration::{Grid, Solution, network_solution};
use crate::tensor::{Device, Rng, Tensor};
use std::path::PathBuf;

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

/// A session's network with a checkpoint's weights.
pub struct Network {
    pub paths: SessionPaths,
    pub builder: BuilderConfig,
    pub config: TrainConfig,
    pub model: Model,
    pub store: ParamStore,
    /// The checkpoint file restored.
    pub checkpoint: PathBuf,
    pub meta: CheckpointMeta,
    pub device: Device,
}

impl Network {
    /// Opens session `opts.session` with checkpoint `opts.weights`. A line naming the session,
    /// checkpoint, grid and device goes to `log`.
    pub fn open(opts: &InferenceOptions, log: &mut Logger) -> Result<Network, SessionError> {
        let root = sessions_root(opts.sessions_dir.clone());
        let paths = open_session(&root, &opts.session)?;
        let builder_text = std::fs::read_to_string(paths.builder())
            .map_err(|e| SessionError::io(&paths.builder(), e))?;
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
            return Err(SessionError::NoCheckpoint {
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
        Ok(Network {
            paths,
            builder,
            config,
            model,
            store,
            checkpoint,
            meta,
            device,
        })
    }

    /// The network grid `[D, H, W]`.
    pub fn grid(&self) -> [usize; 3] {
        self.config.grid()
    }

    /// Runs the network in inference mode (BatchNorm running statistics) on host or device
    /// tensors `[N, D, H, W, 1]`, on the network's device.
    pub fn forward(
        &self,
        src: &Tensor,
        tgt: &Tensor,
        src_seg: Option<&Tensor>,
    ) -> crate::Result<NetOutputs> {
        let dev = |t: &Tensor| t.to_device(self.device);
        let (src, tgt) = (dev(src)?, dev(tgt)?);
        let src_seg = src_seg.map(dev).transpose()?;
        let p = self.store.frozen(false);
        self.model.forward(
            &p,
            &NetInputs {
                src: &src,
                tgt: &tgt,
                src_seg: src_seg.as_ref(),
            },
        )
    }

    /// Registers `moving` to `fixed` (any two volumes; `moving_mask` where the builder takes
    /// the source's mask as an input): both preprocessed to the network grid as in training,
    /// the network's sampling grid turned into a world map ([`network_solution`]) about the
    /// fixed scan's centre, with a zero dense part on `dense_grid`.
    pub fn predict(
        &self,
        fixed: &Volume,
        moving: &Volume,
        moving_mask: Option<&Volume>,
        dense_grid: Grid,
    ) -> Result<Solution, SessionError> {
        let dims = self.grid();
        let [d, h, w] = dims;
        let tgt = preprocess_image(fixed, dims)?;
        let src = preprocess_image(moving, dims)?;
        let host = |v: &Volume| Tensor::from_vec(v.data.clone(), [1, d, h, w, 1], Device::Cpu);
        let seg = match (self.builder.use_segmentation, moving_mask) {
            (false, _) => None,
            (true, Some(m)) => Some(host(&preprocess_mask(m, dims)?)?),
            (true, None) => {
                return Err(SessionError::Usage(format!(
                    "the network of session {} takes the moving scan's lung mask as an input \
                     (use_segmentation in builder.toml): give the moving mask",
                    self.paths.name()
                )));
            }
        };
        let out = self.forward(&host(&src)?, &host(&tgt)?, seg.as_ref())?;
        let sampling = out.grid.to_vec()?;
        Ok(network_solution(
            &sampling,
            &Grid::of(&tgt),
            &Grid::of(&src),
            Grid::of(fixed).centre(),
            dense_grid,
        ))
    }
}
