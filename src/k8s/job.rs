//! A sweep as a Kubernetes Indexed Job: pod `i` of `N` runs shard `i/N` of the grid
//! (`kubetwin sweep --shard $(JOB_COMPLETION_INDEX)/N -o json`), reading the scenario from
//! a ConfigMap; `kubetwin sweep merge` combines the pods' outputs.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EnvVar, EnvVarSource, ObjectFieldSelector,
    PodSpec, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Where the scenario's ConfigMap is mounted in the pods.
pub const SCENARIO_DIR: &str = "/scenario";

/// What the Job runs.
#[derive(Clone, Debug)]
pub struct SweepJob {
    /// Name of the Job and its ConfigMap (`<name>-scenario`).
    pub name: String,
    /// The kubetwin container image.
    pub image: String,
    /// The scenario's files: (file name, content). Mounted under [`SCENARIO_DIR`].
    pub files: Vec<(String, String)>,
    /// The scenario argument as the pods see it (a file or [`SCENARIO_DIR`] itself).
    pub scenario: String,
    /// `kubetwin sweep` options after the scenario (without `--shard` and `-o`).
    pub options: Vec<String>,
    /// Pods, one shard each.
    pub shards: u32,
}

impl SweepJob {
    /// The ConfigMap with the scenario and the Indexed Job.
    pub fn objects(&self) -> (ConfigMap, Job) {
        let config_map_name = format!("{}-scenario", self.name);
        let labels = BTreeMap::from([
            ("app.kubernetes.io/name".to_owned(), "kubetwin".to_owned()),
            ("app.kubernetes.io/component".to_owned(), "sweep".to_owned()),
        ]);
        let meta = |name: &str| ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        };
        let config_map = ConfigMap {
            metadata: meta(&config_map_name),
            data: Some(self.files.iter().cloned().collect()),
            ..ConfigMap::default()
        };
        let mut args = vec!["sweep".to_owned(), self.scenario.clone()];
        args.extend(self.options.iter().cloned());
        args.extend([
            "--shard".to_owned(),
            format!("$(JOB_COMPLETION_INDEX)/{}", self.shards),
            "--output".to_owned(),
            "json".to_owned(),
        ]);
        let container = Container {
            name: "kubetwin".into(),
            image: Some(self.image.clone()),
            args: Some(args),
            // Set explicitly (the Job controller adds it too) so that `$(...)` in args
            // expands from the container's own environment.
            env: Some(vec![EnvVar {
                name: "JOB_COMPLETION_INDEX".into(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path:
                            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                                .into(),
                        ..ObjectFieldSelector::default()
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            }]),
            volume_mounts: Some(vec![VolumeMount {
                name: "scenario".into(),
                mount_path: SCENARIO_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            }]),
            ..Container::default()
        };
        let job = Job {
            metadata: meta(&self.name),
            spec: Some(JobSpec {
                completion_mode: Some("Indexed".into()),
                completions: Some(self.shards as i32),
                parallelism: Some(self.shards as i32),
                backoff_limit: Some(2),
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels.clone()),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        restart_policy: Some("Never".into()),
                        containers: vec![container],
                        volumes: Some(vec![Volume {
                            name: "scenario".into(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: config_map_name,
                                ..ConfigMapVolumeSource::default()
                            }),
                            ..Volume::default()
                        }]),
                        ..PodSpec::default()
                    }),
                },
                ..JobSpec::default()
            }),
            ..Job::default()
        };
        (config_map, job)
    }

    /// The two objects as one YAML stream, ready for `kubectl apply -f -`.
    ///
    /// # Errors
    /// If serialization fails (it does not for these types).
    pub fn to_yaml(&self) -> Result<String, serde_saphyr::ser::Error> {
        let (config_map, job) = self.objects();
        Ok(format!(
            "{}---\n{}",
            serde_saphyr::to_string(&config_map)?,
            serde_saphyr::to_string(&job)?
        ))
    }
}
