//! Upload parameters: parsing the form's text fields and checking them against the
//! bounds of the Thumbnail CRD. The bounds are read from the generated CRD schema,
//! so the shim and `kubectl apply` accept exactly the same numbers. Cross-field rules
//! (width or height, quality only for lossy formats...) are CEL rules in the CRD: the
//! API server checks them on create and the shim passes its message on (422).

use std::sync::LazyLock;

use serde::de::DeserializeOwned;
use serde::Serialize;
use thumbnail_api::contract::words;
use thumbnail_api::crd::{self, Fit, Format};

use crate::error::ApiError;

/// Inclusive bounds of one numeric spec field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: u64,
    pub max: u64,
}

/// Bounds of spec.width, spec.height and spec.quality, read from the CRD schema.
#[derive(Debug, Clone, Copy)]
pub struct SpecBounds {
    pub width: Bounds,
    pub height: Bounds,
    pub quality: Bounds,
}

pub static SPEC_BOUNDS: LazyLock<SpecBounds> = LazyLock::new(|| {
    let crd = crd::crd();
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("the CRD has a schema"),
    )
    .expect("the CRD schema serializes");
    let field = |name: &str| {
        let p = &schema["properties"]["spec"]["properties"][name];
        let n = |k: &str| {
            p[k].as_f64()
                .unwrap_or_else(|| panic!("spec.{name} has no {k} in the CRD schema"))
                as u64
        };
        Bounds {
            min: n("minimum"),
            max: n("maximum"),
        }
    };
    SpecBounds {
        width: field("width"),
        height: field("height"),
        quality: field("quality"),
    }
});

/// The parameters of an upload, each checked on its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadParams {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Option<Fit>,
    pub format: Option<Format>,
    pub quality: Option<u8>,
}

/// Form fields other than `file`.
pub const PARAM_FIELDS: [&str; 5] = ["width", "height", "fit", "format", "quality"];

fn number(field: &str, value: &str, bounds: Bounds) -> Result<u64, ApiError> {
    let n: u64 = value.parse().map_err(|_| {
        ApiError::invalid(
            field,
            format!(
                "{field} must be a whole number from {} to {}, got {value:?}",
                bounds.min, bounds.max
            ),
        )
    })?;
    if n < bounds.min || n > bounds.max {
        return Err(ApiError::invalid(
            field,
            format!(
                "{field} must be from {} to {}, got {n}",
                bounds.min, bounds.max
            ),
        ));
    }
    Ok(n)
}

/// Parses an enum through its serde names, so the accepted words are the CRD's.
fn word<T: DeserializeOwned + Serialize + clap::ValueEnum>(
    field: &str,
    value: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(value.to_string())).map_err(|_| {
        ApiError::invalid(
            field,
            format!(
                "{field} must be one of {}, got {value:?}",
                words::<T>().join(", ")
            ),
        )
    })
}

impl UploadParams {
    /// Records one text field of the form. An empty value counts as not given (HTML
    /// forms and Swagger UI send empty inputs that way).
    pub fn set(&mut self, field: &str, value: &str) -> Result<(), ApiError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(());
        }
        let b = *SPEC_BOUNDS;
        let duplicate = || {
            ApiError::invalid(
                field,
                format!("{field} is given more than once; send it once"),
            )
        };
        match field {
            "width" if self.width.is_some() => return Err(duplicate()),
            "width" => self.width = Some(number(field, value, b.width)? as u32),
            "height" if self.height.is_some() => return Err(duplicate()),
            "height" => self.height = Some(number(field, value, b.height)? as u32),
            "quality" if self.quality.is_some() => return Err(duplicate()),
            "quality" => self.quality = Some(number(field, value, b.quality)? as u8),
            "fit" if self.fit.is_some() => return Err(duplicate()),
            "fit" => self.fit = Some(word(field, value)?),
            "format" if self.format.is_some() => return Err(duplicate()),
            "format" => self.format = Some(word(field, value)?),
            other => {
                return Err(ApiError::invalid(
                    other,
                    format!(
                        "unknown form field {other:?}; the upload takes file, {}",
                        PARAM_FIELDS.join(", ")
                    ),
                ))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn set(field: &str, value: &str) -> Result<UploadParams, ApiError> {
        let mut p = UploadParams::default();
        p.set(field, value).map(|()| p)
    }

    #[test]
    fn bounds_come_from_the_crd() {
        assert_eq!(
            SPEC_BOUNDS.width,
            Bounds {
                min: 1,
                max: crd::MAX_DIMENSION as u64
            }
        );
        assert_eq!(SPEC_BOUNDS.quality, Bounds { min: 1, max: 100 });
    }

    #[test]
    fn accepts_values_within_bounds() {
        assert_eq!(set("width", "8192").unwrap().width, Some(8192));
        assert_eq!(set("height", " 1 ").unwrap().height, Some(1));
        assert_eq!(set("quality", "100").unwrap().quality, Some(100));
        assert_eq!(set("fit", "cover").unwrap().fit, Some(Fit::Cover));
        assert_eq!(set("format", "webp").unwrap().format, Some(Format::Webp));
        assert_eq!(set("width", "").unwrap(), UploadParams::default());
    }

    #[test]
    fn rejects_out_of_range_and_malformed_values_with_the_field() {
        for (field, value) in [
            ("width", "0"),
            ("width", "8193"),
            ("height", "-5"),
            ("height", "1.5"),
            ("quality", "101"),
            ("quality", "99999999999999999999999"),
            ("fit", "stretch"),
            ("format", "gif"),
            ("colour", "red"),
        ] {
            let err = set(field, value).unwrap_err();
            assert_eq!(
                err.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{field}={value}"
            );
            assert_eq!(err.body.field.as_deref(), Some(field));
            assert_eq!(err.body.code, "invalid_parameter");
        }
        let err = set("width", "0").unwrap_err();
        assert!(
            err.body.message.contains("from 1 to 8192"),
            "{}",
            err.body.message
        );
    }

    #[test]
    fn rejects_a_field_given_twice() {
        let mut p = UploadParams::default();
        p.set("width", "10").unwrap();
        assert!(p
            .set("width", "20")
            .unwrap_err()
            .body
            .message
            .contains("more than once"));
    }
}
