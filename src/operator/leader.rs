//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection
//! does it: the holder renews `renewTime` every [`RENEW`]; another replica takes the Lease
//! over only after `leaseDurationSeconds` without a renewal. Every write carries the
//! Lease's `resourceVersion`, so two replicas racing for it cannot both win.
//!
//! [`Elector::acquire`] waits until this replica holds the Lease; [`Elector::renew_forever`]
//! keeps it and returns (an error) only when it is lost, after which the process must stop
//! acting — the operator exits and Kubernetes restarts it as a candidate.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};

/// How long a Lease stays valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the holder renews, and a candidate retries.
pub const RENEW: Duration = Duration::from_secs(4);

/// Why leadership could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another replica holds the Lease now.
    #[error("lease {0} was taken over by {1}")]
    Lost(String, String),
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

    /// Waits until this replica holds the Lease.
    ///
    /// # Errors
    /// An API error other than a lost race (e.g. 403: no RBAC for Leases).
    pub async fn acquire(&self) -> Result<(), LeaderError> {
        loop {
            if self.try_acquire_or_renew().await? {
                tracing::info!(lease = %self.lease_name(), identity = %self.identity, "leading");
                return Ok(());
            }
            tokio::time::sleep(RENEW).await;
        }
    }

    /// Renews the Lease every [`RENEW`] until it is lost.
    ///
    /// # Errors
    /// [`LeaderError::Lost`] when another replica holds it; an API error when renewals fail
    /// for longer than the Lease lasts.
    pub async fn renew_forever(&self) -> LeaderError {
        let mut failing_since: Option<tokio::time::Instant> = None;
        loop {
            tokio::time::sleep(RENEW).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => failing_since = None,
                Ok(false) => {
                    let holder = self.holder().await.unwrap_or_default();
                    return LeaderError::Lost(self.lease_name(), holder);
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    tracing::warn!(error = %e, "lease renewal failed");
                    if since.elapsed() >= LEASE_DURATION {
                        return e;
                    }
                }
            }
        }
    }

    async fn holder(&self) -> Option<String> {
        self.api
            .get_opt(&self.name)
            .await
            .ok()??
            .spec?
            .holder_identity
    }

    /// One step: create the Lease, renew it if ours, or take it over if expired. `true`
    /// when this replica holds it afterwards.
    async fn try_acquire_or_renew(&self) -> Result<bool, LeaderError> {
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
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
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
            return Ok(false);
        }
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
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
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
