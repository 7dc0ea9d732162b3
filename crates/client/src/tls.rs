//! TLS with rustls (ring provider): system roots, an extra CA file, the explicit `insecure` switch, and ALPN for the chosen HTTP version.

use super::settings::{ClientSettings, HttpVersion};
use rustls::{
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{ring, CryptoProvider},
    pki_types::{CertificateDer, ServerName, UnixTime},
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::sync::Arc;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file could not be read or holds no certificate.
    #[error("ca_file `{path}`: {reason}")]
    CaFile {
        /// The file named in the settings.
        path: String,
        /// What was wrong with it.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds the rustls client configuration for `settings`.
pub fn client_config(settings: &ClientSettings) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = if settings.insecure {
        tracing::warn!(
            "client.insecure = true: TLS certificates are NOT verified; use this only with self-signed test servers"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(settings.ca_file.as_deref())?)
            .with_no_client_auth()
    };
    config.alpn_protocols = match settings.http {
        HttpVersion::Http1 => vec![b"http/1.1".to_vec()],
        HttpVersion::Http2 => vec![b"h2".to_vec()],
        HttpVersion::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    Ok(Arc::new(config))
}

/// The system roots plus the certificates of `ca_file`.
fn roots(ca_file: Option<&str>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        tracing::debug!(
            "some system certificates could not be loaded: {:?}",
            native.errors
        );
    }
    // Unparsable system certificates are skipped, as browsers do; the count is only logged.
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!("system roots: {added} loaded, {ignored} ignored");
    if let Some(path) = ca_file {
        let err = |reason: String| TlsError::CaFile {
            path: path.to_string(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| err(format!("not a PEM certificate bundle ({e})")))?;
        if certs.is_empty() {
            return Err(err("holds no PEM certificate".into()));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| err(format!("unusable certificate ({e})")))?;
        }
    }
    Ok(roots)
}

/// Accepts any server certificate but still checks handshake signatures (so the session is at least consistent).
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_follows_the_http_setting() {
        for (http, alpn) in [
            (HttpVersion::Http1, vec![b"http/1.1".to_vec()]),
            (HttpVersion::Http2, vec![b"h2".to_vec()]),
            (
                HttpVersion::Auto,
                vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            ),
        ] {
            let settings = ClientSettings {
                http,
                ..ClientSettings::default()
            };
            assert_eq!(client_config(&settings).unwrap().alpn_protocols, alpn);
        }
    }

    #[test]
    fn bad_ca_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let settings = ClientSettings {
            ca_file: Some(path.display().to_string()),
            ..ClientSettings::default()
        };
        let e = client_config(&settings).unwrap_err().to_string();
        assert!(
            e.contains("ca.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let missing = ClientSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..ClientSettings::default()
        };
        assert!(client_config(&missing).is_err());
    }
}
