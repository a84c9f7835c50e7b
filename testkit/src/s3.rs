//! The real S3 server of the test run (SeaweedFS, started by hack/test.sh).

use crate::kube::unique_namespace;
use crate::required_env;

/// Variables naming the test S3 server (set by hack/test.sh).
pub const ENDPOINT_ENV: &str = "THUMBNAIL_TEST_S3_ENDPOINT";
pub const ACCESS_KEY_ENV: &str = "THUMBNAIL_TEST_S3_ACCESS_KEY";
pub const SECRET_KEY_ENV: &str = "THUMBNAIL_TEST_S3_SECRET_KEY";
/// The bucket the components' identities are scoped to (uploads and output bucket).
pub const IDENTITY_BUCKET_ENV: &str = "THUMBNAIL_TEST_S3_IDENTITY_BUCKET";

/// A component's own identity in the object store (charts/thumbnail-operator/files/
/// s3-identities.sh makes them, for the chart, `make dev` and the test server alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    Operator,
    Shim,
    Resizer,
}

impl Identity {
    pub const ALL: [Identity; 3] = [Identity::Operator, Identity::Shim, Identity::Resizer];

    /// The variable hack/test.sh puts this identity's `access:secret` in.
    pub fn keys_env(self) -> &'static str {
        match self {
            Identity::Operator => "THUMBNAIL_TEST_S3_OPERATOR_KEYS",
            Identity::Shim => "THUMBNAIL_TEST_S3_SHIM_KEYS",
            Identity::Resizer => "THUMBNAIL_TEST_S3_RESIZER_KEYS",
        }
    }

    /// (access key, secret key) of this identity on the test server.
    pub fn keys(self) -> (String, String) {
        let both = required_env(self.keys_env());
        let (access, secret) = both
            .split_once(':')
            .unwrap_or_else(|| panic!("{} is not ACCESS:SECRET", self.keys_env()));
        (access.to_string(), secret.to_string())
    }
}

fn client_at(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    let store = thumbnail_api::store_config::StoreConfig {
        endpoint: endpoint.into(),
        ..Default::default()
    };
    let credentials =
        aws_sdk_s3::config::Credentials::new(access_key, secret_key, None, None, "tests");
    thumbnail_store::with_credentials(&store, credentials)
}

/// Fails the test with what was done and the SDK's whole error chain.
fn failed(what: String, e: impl std::error::Error) -> ! {
    panic!("{what}: {}", aws_sdk_s3::error::DisplayErrorContext(e))
}

/// The real S3 server of the test run.
pub struct S3Env {
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub client: aws_sdk_s3::Client,
}

impl S3Env {
    /// Reads THUMBNAIL_TEST_S3_*; panics with instructions when the server is not there.
    pub fn from_env() -> S3Env {
        S3Env::at(
            &required_env(ENDPOINT_ENV),
            &required_env(ACCESS_KEY_ENV),
            &required_env(SECRET_KEY_ENV),
        )
    }

    /// Another S3 server, e.g. the store a chart release bundles.
    pub fn at(endpoint: &str, access_key: &str, secret_key: &str) -> S3Env {
        S3Env {
            client: client_at(endpoint, access_key, secret_key),
            endpoint: endpoint.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        }
    }

    /// A client of `endpoint` (e.g. a closed port, or a proxy in front of the server)
    /// with the test server's credentials, built the way every component builds its own.
    pub fn client_at(&self, endpoint: &str) -> aws_sdk_s3::Client {
        client_at(endpoint, &self.access_key, &self.secret_key)
    }

    /// The bucket the components' identities are scoped to on the test server.
    pub fn identity_bucket() -> String {
        required_env(IDENTITY_BUCKET_ENV)
    }

    /// The same server as `identity` sees it: a client with that component's keys.
    pub fn as_identity(&self, identity: Identity) -> S3Env {
        let (access, secret) = identity.keys();
        S3Env::at(&self.endpoint, &access, &secret)
    }

    /// host:port of the endpoint.
    pub fn socket_addr(&self) -> std::net::SocketAddr {
        let host = self
            .endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/');
        host.parse()
            .expect("the test S3 endpoint is http://IP:PORT")
    }

    /// Creates a bucket no other test uses.
    pub async fn new_bucket(&self, prefix: &str) -> String {
        let name = unique_namespace(prefix).to_lowercase();
        self.client
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| failed(format!("creating bucket {name}"), e));
        name
    }

    /// Stores `bytes` at `bucket`/`key`.
    pub async fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .unwrap_or_else(|e| failed(format!("put {bucket}/{key}"), e));
    }

    /// The bytes stored at `bucket`/`key`.
    pub async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| failed(format!("get {bucket}/{key}"), e));
        out.body
            .collect()
            .await
            .expect("object body")
            .into_bytes()
            .to_vec()
    }

    /// Whether `bucket`/`key` exists (a missing key is false, any other error fails).
    pub async fn exists(&self, bucket: &str, key: &str) -> bool {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => false,
            Err(e) => failed(format!("head {bucket}/{key}"), e),
        }
    }

    /// Keys under `prefix`, sorted.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap_or_else(|e| failed(format!("list {bucket}/{prefix}"), e));
        let mut keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        keys.sort();
        keys
    }
}
