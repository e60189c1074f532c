//! Where photo bytes live: a local directory by default, S3-compatible storage when configured,
//! both through object_store. Keys hold ids only, never names.

use std::sync::Arc;

use bytes::Bytes;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, aws::AmazonS3Builder, local::LocalFileSystem, path::Path};
use secrecy::ExposeSecret;

use crate::config::Settings;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("photo storage is full")]
    Full,
    #[error("photo storage is unavailable: {0}")]
    Unavailable(String),
    #[error("the stored image is missing")]
    Missing,
}

#[derive(Clone)]
pub struct PhotoStore {
    inner: Arc<dyn ObjectStore>,
    kind: &'static str,
}

fn classify(e: object_store::Error) -> StoreError {
    if matches!(e, object_store::Error::NotFound { .. }) {
        return StoreError::Missing;
    }
    let text = format!("{e}");
    let full = text.contains("No space left") || text.contains("StorageFull") || text.contains("quota");
    if full { StoreError::Full } else { StoreError::Unavailable(text) }
}

impl PhotoStore {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let p = &settings.photos;
        match p.storage.as_str() {
            "s3" => {
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(p.s3_bucket.clone().unwrap_or_default())
                    .with_region(p.s3_region.clone());
                if let Some(endpoint) = &p.s3_endpoint {
                    b = b.with_endpoint(endpoint.clone()).with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(key) = &p.s3_access_key_id {
                    b = b.with_access_key_id(key.clone());
                }
                if let Some(secret) = &p.s3_secret_access_key {
                    b = b.with_secret_access_key(secret.expose_secret().to_owned());
                }
                let store = b.build().map_err(|e| anyhow::anyhow!("photo storage (S3) is misconfigured: {e}"))?;
                Ok(Self { inner: Arc::new(store), kind: "s3" })
            }
            _ => {
                let dir = settings.data_dir.join("photos");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| anyhow::anyhow!("cannot create the photo directory {}: {e}", dir.display()))?;
                let store = LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| anyhow::anyhow!("cannot use the photo directory {}: {e}", dir.display()))?;
                Ok(Self { inner: Arc::new(store), kind: "local" })
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.inner.put(&Path::from(key), PutPayload::from(bytes)).await.map(|_| ()).map_err(classify)
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let got = self.inner.get(&Path::from(key)).await.map_err(classify)?;
        got.bytes().await.map_err(classify)
    }

    /// Deletes an object; a missing one is fine.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&Path::from(key)).await.map_err(classify) {
            Ok(()) | Err(StoreError::Missing) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
