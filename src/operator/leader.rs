//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection
//! does it: the holder renews `renewTime` every [`RENEW`]; another replica takes the Lease
//! over only after `leaseDurationSeconds` without a renewal. Every write carries the
//! Lease's `resourceVersion`, so two replicas racing for it cannot both win.
//!
//! [`Elector::acquire`] waits until this replica holds the Lease; [`Elector::renew_forever`]
//! keeps it and returns (an error) only when it is lost or has gone [`RENEW_DEADLINE`]
//! without a renewal — before another replica may take it over — after which the process
//! must stop acting: the operator exits and Kubernetes restarts it as a candidate.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};

/// How long a Lease stays valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews, and a candidate retries.
pub const RENEW: Duration = Duration::from_secs(4);
/// How long the holder may go without a successful renewal before it stops acting.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// Where a step left the Lease.
enum Step {
    /// This replica holds it.
    Leading,
    /// Another replica holds it (its identity; empty if it won a race just now).
    HeldBy(String),
}

/// Why leadership could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another replica holds the Lease now.
    #[error("lease {0} was taken over by {1}")]
    Lost(String, String),
    /// No renewal succeeded within the deadline.
    #[error("lease {0} was not renewed for {1:?}")]
    Deadline(String, Duration),
    /// The API server refused or failed a Lease request.
    #[error("lease {lease}: {source}")]
    Api {
        /// `namespace/name`.
        lease: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
}

/// One replica's view of the Lease.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    namespace: String,
    identity: String,
}

impl Elector {
    /// A candidate called `identity` (the pod's name) for Lease `namespace/name`.
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str) -> Elector {
        Elector {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            identity: identity.to_owned(),
        }
    }

    fn lease_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Waits until this replica holds the Lease. Transient API errors (a restarting API
    /// server) are retried.
    ///
    /// # Errors
    /// A refusal (401 or 403: no RBAC for Leases).
    pub async fn acquire(&self) -> Result<(), LeaderError> {
        loop {
            match self.step().await {
                Ok(Step::Leading) => {
                    tracing::info!(lease = %self.lease_name(), identity = %self.identity, "leading");
                    return Ok(());
                }
                Ok(Step::HeldBy(_)) => {}
                Err(LeaderError::Api {
                    source: kube::Error::Api(s),
                    ..
                }) if s.code == 401 || s.code == 403 => {
                    return Err(LeaderError::Api {
                        lease: self.lease_name(),
                        source: kube::Error::Api(s),
                    });
                }
                Err(e) => tracing::warn!(error = %e, "acquiring the lease failed; retrying"),
            }
            tokio::time::sleep(RENEW).await;
        }
    }

    /// Renews the Lease every [`RENEW`] until it is lost, or until no renewal has
    /// succeeded for [`RENEW_DEADLINE`] (each attempt is cut off at that deadline), which is
    /// shorter than the Lease's duration: this replica stops acting before another may take
    /// over, as client-go's leader election does.
    pub async fn renew_forever(&self) -> LeaderError {
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(RENEW).await;
            let left = RENEW_DEADLINE.saturating_sub(renewed.elapsed());
            if left.is_zero() {
                return LeaderError::Deadline(self.lease_name(), RENEW_DEADLINE);
            }
            match tokio::time::timeout(left, self.step()).await {
                Ok(Ok(Step::Leading)) => renewed = tokio::time::Instant::now(),
                Ok(Ok(Step::HeldBy(holder))) => {
                    return LeaderError::Lost(self.lease_name(), holder);
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "lease renewal failed"),
                Err(_) => tracing::warn!("lease renewal timed out"),
            }
        }
    }

    /// One step: create the Lease, renew it if ours, or take it over if expired.
    async fn step(&self) -> Result<Step, LeaderError> {
        let api_error = |source| LeaderError::Api {
            lease: self.lease_name(),
            source,
        };
        let now = MicroTime(super::now().0);
        let existing = self.api.get_opt(&self.name).await.map_err(api_error)?;
        let Some(mut lease) = existing else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now.clone(), now, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Step::Leading),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Step::HeldBy(String::new())),
                Err(e) => Err(api_error(e)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let expired = spec.renew_time.as_ref().is_none_or(|renewed| {
            let valid = spec
                .lease_duration_seconds
                .map_or(LEASE_DURATION.as_secs() as i64, i64::from);
            now.0.as_second() - renewed.0.as_second() > valid
        });
        if !ours && !expired {
            return Ok(Step::HeldBy(spec.holder_identity.unwrap_or_default()));
        }
        let holder = spec.holder_identity.clone().unwrap_or_default();
        lease.spec = Some(if ours {
            LeaseSpec {
                renew_time: Some(now),
                ..spec
            }
        } else {
            self.spec(now.clone(), now, spec.lease_transitions.unwrap_or(0) + 1)
        });
        // `replace` sends the resourceVersion we read: a concurrent writer makes it a 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(Step::Leading),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Step::HeldBy(holder)),
            Err(e) => Err(api_error(e)),
        }
    }

    fn spec(&self, acquired: MicroTime, renewed: MicroTime, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: Some(acquired),
            renew_time: Some(renewed),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}
