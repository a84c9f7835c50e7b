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
    /// The items of `sizes` (several thumbnails from one upload), in order; `None`
    /// when the field was not given.
    pub sizes: Option<Vec<SizeItem>>,
}

/// Form fields other than `file`.
pub const PARAM_FIELDS: [&str; 6] = ["width", "height", "fit", "format", "quality", "sizes"];

/// Most items one upload's `sizes` may have: each is a Thumbnail and a resizer run.
pub const MAX_SIZES: usize = 16;
const _: () = assert!(MAX_SIZES <= thumbnail_api::ownership::MAX_GROUP_MEMBERS);

/// One item of `sizes`: `W`, `WxH` or `xH`, then `:`-separated options for this size
/// alone: a fit (`cover`), a format (`webp`), a quality (`q70`), or the same written
/// out (`fit=cover`, `format=webp`, `quality=70`). What it leaves out comes from the
/// upload's own fit, format and quality fields. (`:`, not `;`: curl's `-F` takes
/// what follows a `;` for its own attributes.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SizeItem {
    /// 1-based position among all the upload's items.
    pub position: usize,
    /// The item as sent, for messages.
    pub text: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Option<Fit>,
    pub format: Option<Format>,
    pub quality: Option<u8>,
}

/// What one Thumbnail of an upload asks for, shared fields and the item's own merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
    pub format: Format,
    pub quality: Option<u8>,
}

impl Size {
    /// Two sizes that make the same image: the quality a format uses by default
    /// counts as given.
    fn same_image(&self, other: &Size) -> bool {
        let q = |s: &Size| s.quality.or(s.format.default_quality());
        (self.width, self.height, self.fit, self.format, q(self))
            == (other.width, other.height, other.fit, other.format, q(other))
    }

    /// As the item reads to a client, e.g. `256x256 cover webp`.
    pub fn describe(&self) -> String {
        let dims = match (self.width, self.height) {
            (Some(w), Some(h)) => format!("{w}x{h}"),
            (Some(w), None) => format!("{w}"),
            (None, Some(h)) => format!("x{h}"),
            (None, None) => String::new(),
        };
        format!("{dims} {} {}", words_of(self.fit), words_of(self.format))
    }
}

fn words_of<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A `sizes` error about one item: 422, field `sizes`, the item's position in `item`
/// and its text in the message.
pub fn item_error(item: &SizeItem, message: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(
        "sizes",
        format!("sizes item {} ({:?}): {message}", item.position, item.text),
    )
    .with_item(item.position)
}

/// Parses one item of `sizes` (see [`SizeItem`]).
fn size_item(position: usize, text: &str) -> Result<SizeItem, ApiError> {
    let mut item = SizeItem {
        position,
        text: text.to_string(),
        ..Default::default()
    };
    let fail = |item: &SizeItem, m: String| Err(item_error(item, m));
    if text.is_empty() {
        return fail(
            &item,
            "empty; give a width (256), width and height (256x256) or a height (x256), separated by commas".into(),
        );
    }
    let mut parts = text.split(':').map(str::trim);
    let dims = parts.next().unwrap_or_default();
    let b = *SPEC_BOUNDS;
    let side = |item: &SizeItem, name: &str, v: &str, bounds: Bounds| -> Result<u32, ApiError> {
        number(name, v, bounds)
            .map(|n| n as u32)
            .map_err(|e| item_error(item, e.body.message))
    };
    let (w, h) = match dims.split_once(['x', 'X']) {
        Some((w, h)) => (w.trim(), Some(h.trim())),
        None => (dims, None),
    };
    if !w.is_empty() {
        item.width = Some(side(&item, "width", w, b.width)?);
    }
    match h {
        Some("") => {
            return fail(
                &item,
                "no height after the x; give 256x256 for both sides, 256 for the width alone"
                    .into(),
            )
        }
        Some(h) => item.height = Some(side(&item, "height", h, b.height)?),
        None => {}
    }
    if item.width.is_none() && item.height.is_none() {
        return fail(
            &item,
            "starts with no size; begin with a width (256), width and height (256x256) or a height (x256)".into(),
        );
    }
    for option in parts {
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name.trim(), value.trim()),
            None if words::<Fit>().iter().any(|w| w == option) => ("fit", option),
            None if words::<Format>().iter().any(|w| w == option) => ("format", option),
            None if option.starts_with('q') && option.len() > 1 => ("quality", &option[1..]),
            None => {
                return fail(
                    &item,
                    format!(
                        "{option:?} is not an option; after the size come a fit ({}), a format ({}) or a quality (q1 to q100), separated by ':', e.g. 256x256:cover:webp:q70",
                        words::<Fit>().join(", "),
                        words::<Format>().join(", ")
                    ),
                )
            }
        };
        let twice = |item: &SizeItem| item_error(item, format!("{name} is given twice"));
        match name {
            "fit" if item.fit.is_some() => return Err(twice(&item)),
            "fit" => {
                item.fit = Some(word(name, value).map_err(|e| item_error(&item, e.body.message))?)
            }
            "format" if item.format.is_some() => return Err(twice(&item)),
            "format" => {
                item.format =
                    Some(word(name, value).map_err(|e| item_error(&item, e.body.message))?)
            }
            "quality" if item.quality.is_some() => return Err(twice(&item)),
            "quality" => {
                item.quality = Some(
                    number(name, value, b.quality).map_err(|e| item_error(&item, e.body.message))?
                        as u8,
                )
            }
            other => {
                return fail(
                    &item,
                    format!("unknown option {other:?}; an item takes fit, format and quality"),
                )
            }
        }
    }
    Ok(item)
}

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
            // Several `sizes` fields add up (an HTML form's repeated inputs).
            "sizes" => {
                let items = self.sizes.get_or_insert_with(Vec::new);
                for text in value.split(',').map(str::trim) {
                    let position = items.len() + 1;
                    if position > MAX_SIZES {
                        return Err(ApiError::invalid(
                            field,
                            format!("at most {MAX_SIZES} sizes per upload; upload again for more"),
                        )
                        .with_item(position));
                    }
                    items.push(size_item(position, text)?);
                }
            }
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

impl UploadParams {
    /// The Thumbnails this upload asks for when it gave `sizes`: one per item, each
    /// with the upload's fit, format and quality unless the item gives its own (the
    /// upload's quality only for the formats that have one). `None` without `sizes`:
    /// one Thumbnail of width and height, as before groups. Refused: `sizes` together
    /// with width or height, and two items that would make the same image.
    pub fn sizes(&self) -> Result<Option<Vec<Size>>, ApiError> {
        let Some(items) = &self.sizes else {
            return Ok(None);
        };
        if self.width.is_some() || self.height.is_some() {
            let which = if self.width.is_some() {
                "width"
            } else {
                "height"
            };
            return Err(ApiError::invalid(
                "sizes",
                format!("give either sizes or {which} (and height/width), not both: each item of sizes has its own width and height"),
            ));
        }
        let mut sizes: Vec<Size> = Vec::with_capacity(items.len());
        for item in items {
            let format = item.format.or(self.format).unwrap_or_default();
            let shared_quality = self.quality.filter(|_| format.default_quality().is_some());
            let size = Size {
                width: item.width,
                height: item.height,
                fit: item.fit.or(self.fit).unwrap_or_default(),
                format,
                quality: item.quality.or(shared_quality),
            };
            if let Some(i) = sizes.iter().position(|s| s.same_image(&size)) {
                return Err(item_error(
                    item,
                    format!(
                        "the same thumbnail as item {} ({}); ask for each size once",
                        i + 1,
                        size.describe().trim()
                    ),
                ));
            }
            sizes.push(size);
        }
        Ok(Some(sizes))
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

    fn sizes(fields: &[(&str, &str)]) -> Result<Vec<Size>, ApiError> {
        let mut p = UploadParams::default();
        for (f, v) in fields {
            p.set(f, v)?;
        }
        p.sizes().map(|s| s.expect("sizes given"))
    }

    #[test]
    fn sizes_take_shared_fields_and_their_own() {
        let s = sizes(&[
            ("sizes", "128, 256x256:cover:format=webp, x64:q40"),
            ("format", "avif"),
            ("quality", "60"),
        ])
        .unwrap();
        let got: Vec<_> = s
            .iter()
            .map(|s| (s.width, s.height, s.fit, s.format, s.quality))
            .collect();
        assert_eq!(
            got,
            [
                (Some(128), None, Fit::Inside, Format::Avif, Some(60)),
                (Some(256), Some(256), Fit::Cover, Format::Webp, Some(60)),
                (None, Some(64), Fit::Inside, Format::Avif, Some(40)),
            ]
        );
        // Repeated fields add up; the shared quality skips png, which has none.
        let s = sizes(&[("sizes", "128"), ("sizes", "256:png"), ("quality", "70")]).unwrap();
        assert_eq!((s.len(), s[0].quality, s[1].quality), (2, Some(70), None));
        // Without sizes: one Thumbnail, as before.
        let mut p = UploadParams::default();
        p.set("width", "64").unwrap();
        assert_eq!(p.sizes().unwrap(), None);
    }

    #[test]
    fn bad_sizes_name_the_item() {
        for (value, position, words) in [
            ("128,,256", 2, "empty"),
            ("128,abc", 2, "whole number"),
            ("0", 1, "from 1 to 8192"),
            ("128x", 1, "no height"),
            ("128,256x9000", 2, "from 1 to 8192"),
            ("128:fit=stretch", 1, "fit must be one of"),
            ("128:stretch", 1, "is not an option"),
            ("128:colour=red", 1, "unknown option"),
            ("128:q", 1, "is not an option"),
            ("128:q101", 1, "quality must be from 1 to 100"),
            ("128:cover:fit=fill", 1, "twice"),
            (":cover", 1, "starts with no size"),
            ("128,256,128", 3, "the same thumbnail as item 1"),
            ("128:jpeg:q80,128", 2, "the same thumbnail as item 1"),
        ] {
            let err = sizes(&[("sizes", value)]).unwrap_err();
            assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY, "{value}");
            assert_eq!(err.body.field.as_deref(), Some("sizes"), "{value}");
            assert_eq!(err.body.item, Some(position), "{value}");
            let m = &err.body.message;
            assert!(
                m.contains(&format!("sizes item {position} ")) && m.contains(words),
                "{value}: {m}"
            );
        }
        let many = (1..=17)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let err = sizes(&[("sizes", &many)]).unwrap_err();
        assert!(
            err.body.message.contains("at most 16"),
            "{}",
            err.body.message
        );
        assert_eq!(err.body.item, Some(17));
        assert!(sizes(&[("sizes", &many[..many.rfind(',').unwrap()])]).is_ok());
        let err = sizes(&[("sizes", "128"), ("width", "64")]).unwrap_err();
        assert!(
            err.body.message.contains("not both"),
            "{}",
            err.body.message
        );
        // Different images of one size are not duplicates.
        assert!(sizes(&[("sizes", "128,128:webp,128:quality=50")]).is_ok());
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
