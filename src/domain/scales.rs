//! Validated scales as data (DOMAIN.md): each has a code, a version, a range, a direction and
//! anchors; some are computed from items. The definitions below are seeded into the database at
//! start-up (a new version is a new row; scores keep the version they were recorded with).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    LowerIsBetter,
    HigherIsBetter,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rater {
    Clinician,
    Patient,
    Automatic,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Anchor {
    pub value: f64,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = ScaleItem)]
pub struct Item {
    pub key: String,
    pub label: String,
    pub min: f64,
    pub max: f64,
}

/// How a score is derived from its items.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compute {
    /// The value is given directly.
    Direct,
    /// The sum of the items.
    Sum,
    /// Goodman & Baron quantitative: lesion counts per grade, points = grade × band
    /// (1–10 lesions → 1, 11–20 → 2, more → 3).
    GoodmanBaronPoints,
}

/// When a change from baseline counts as clinically meaningful.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Meaningful {
    /// The latest value is at most this (GAIS ≤ 3: improved).
    #[schema(title = "LatestAtMost")]
    LatestAtMost { value: f64 },
    /// The value fell by at least this much from baseline.
    #[schema(title = "DropAtLeast")]
    DropAtLeast { value: f64 },
    /// IGA success: latest 0 or 1 and a drop of at least 2 grades.
    #[schema(title = "IgaSuccess")]
    IgaSuccess,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScaleDef {
    pub code: String,
    pub version: i32,
    pub name: String,
    pub description: String,
    pub min: f64,
    pub max: f64,
    /// Whole numbers only.
    pub integer: bool,
    pub direction: Direction,
    pub anchors: Vec<Anchor>,
    pub items: Vec<Item>,
    pub compute: Compute,
    pub raters: Vec<Rater>,
    pub meaningful: Option<Meaningful>,
}

/// A score's value from what was submitted: a direct value, or items.
pub fn score_value(
    def: &ScaleDef,
    value: Option<f64>,
    items: Option<&std::collections::BTreeMap<String, f64>>,
) -> Result<f64, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let whole = |v: f64| v.fract() == 0.0;
    let total = match def.compute {
        Compute::Direct => match value {
            Some(v) => v,
            None => return Err(vec![("value".into(), "is required for this scale".into())]),
        },
        Compute::Sum | Compute::GoodmanBaronPoints => {
            let Some(items) = items else {
                return Err(vec![("items".into(), format!("this scale is scored from its {} items", def.items.len()))]);
            };
            for key in items.keys() {
                if !def.items.iter().any(|i| &i.key == key) {
                    errors.push((format!("items.{key}"), "is not an item of this scale".into()));
                }
            }
            let mut total = 0.0;
            for item in &def.items {
                match items.get(&item.key) {
                    None => errors.push((format!("items.{}", item.key), "is required".into())),
                    Some(v) if !v.is_finite() || *v < item.min || *v > item.max || !whole(*v) => errors.push((
                        format!("items.{}", item.key),
                        format!("must be a whole number from {} to {}", item.min, item.max),
                    )),
                    Some(v) => {
                        total += match def.compute {
                            Compute::GoodmanBaronPoints => {
                                let grade =
                                    def.items.iter().position(|i| i.key == item.key).map_or(0.0, |p| (p + 1) as f64);
                                let band = match *v as u32 {
                                    0 => 0.0,
                                    1..=10 => 1.0,
                                    11..=20 => 2.0,
                                    _ => 3.0,
                                };
                                grade * band
                            }
                            _ => *v,
                        }
                    }
                }
            }
            if value.is_some() {
                errors.push(("value".into(), "is computed from the items; do not send it".into()));
            }
            total
        }
    };
    if !total.is_finite() || total < def.min || total > def.max || (def.integer && !whole(total)) {
        let kind = if def.integer { "a whole number" } else { "a number" };
        errors.push(("value".into(), format!("must be {kind} from {} to {}", def.min, def.max)));
    }
    if errors.is_empty() { Ok(total) } else { Err(errors) }
}

/// Whether the change from `baseline` to `latest` is clinically meaningful (None: no rule).
pub fn meaningful(def: &ScaleDef, baseline: f64, latest: f64) -> Option<bool> {
    let drop = match def.direction {
        Direction::LowerIsBetter => baseline - latest,
        Direction::HigherIsBetter => latest - baseline,
    };
    Some(match def.meaningful.as_ref()? {
        Meaningful::LatestAtMost { value } => latest <= *value,
        Meaningful::DropAtLeast { value } => drop >= *value,
        Meaningful::IgaSuccess => latest <= 1.0 && baseline - latest >= 2.0,
    })
}

fn anchors(list: &[(f64, &str)]) -> Vec<Anchor> {
    list.iter().map(|(v, l)| Anchor { value: *v, label: (*l).to_owned() }).collect()
}

fn items(list: &[(&str, &str)], min: f64, max: f64) -> Vec<Item> {
    list.iter().map(|(k, l)| Item { key: (*k).to_owned(), label: (*l).to_owned(), min, max }).collect()
}

/// The built-in definitions (version 1 of each).
pub fn builtin() -> Vec<ScaleDef> {
    use Direction::{HigherIsBetter as Up, LowerIsBetter as Down};
    let def = |code: &str, name: &str, description: &str, min: f64, max: f64, direction| ScaleDef {
        code: code.into(),
        version: 1,
        name: name.into(),
        description: description.into(),
        min,
        max,
        integer: true,
        direction,
        anchors: Vec::new(),
        items: Vec::new(),
        compute: Compute::Direct,
        raters: vec![Rater::Clinician],
        meaningful: None,
    };
    let posas_items = |observer: bool| {
        if observer {
            items(
                &[
                    ("vascularity", "Vascularity"),
                    ("pigmentation", "Pigmentation"),
                    ("thickness", "Thickness"),
                    ("relief", "Relief"),
                    ("pliability", "Pliability"),
                    ("surface_area", "Surface area"),
                ],
                1.0,
                10.0,
            )
        } else {
            items(
                &[
                    ("pain", "Pain"),
                    ("itching", "Itching"),
                    ("colour", "Colour"),
                    ("stiffness", "Stiffness"),
                    ("thickness", "Thickness"),
                    ("irregularity", "Irregularity"),
                ],
                1.0,
                10.0,
            )
        }
    };
    vec![
        ScaleDef {
            anchors: anchors(&[
                (1.0, "Very much improved"),
                (2.0, "Much improved"),
                (3.0, "Improved"),
                (4.0, "No change"),
                (5.0, "Worse"),
            ]),
            raters: vec![Rater::Clinician, Rater::Patient],
            meaningful: Some(Meaningful::LatestAtMost { value: 3.0 }),
            ..def(
                "gais",
                "Global Aesthetic Improvement Scale",
                "Improvement against baseline photos; clinician and subject versions.",
                1.0,
                5.0,
                Down,
            )
        },
        ScaleDef {
            anchors: anchors(&[(1.0, "Macular"), (2.0, "Mild"), (3.0, "Moderate"), (4.0, "Severe")]),
            meaningful: Some(Meaningful::DropAtLeast { value: 1.0 }),
            ..def(
                "goodman_baron_qualitative",
                "Goodman & Baron qualitative acne scar grade",
                "Overall acne scar grade 1–4.",
                1.0,
                4.0,
                Down,
            )
        },
        ScaleDef {
            items: items(
                &[
                    ("macular", "Macular lesions (grade 1)"),
                    ("mild", "Mild lesions (grade 2)"),
                    ("moderate", "Moderate lesions (grade 3)"),
                    ("severe", "Severe lesions (grade 4)"),
                ],
                0.0,
                999.0,
            ),
            compute: Compute::GoodmanBaronPoints,
            meaningful: Some(Meaningful::DropAtLeast { value: 2.0 }),
            ..def(
                "goodman_baron_quantitative",
                "Goodman & Baron quantitative acne scar score",
                "Lesion counts per grade; points = grade × band (1–10 lesions: 1, 11–20: 2, more: 3), 0–30.",
                0.0,
                30.0,
                Down,
            )
        },
        ScaleDef {
            anchors: anchors(&[
                (0.0, "Clear"),
                (1.0, "Almost clear"),
                (2.0, "Mild"),
                (3.0, "Moderate"),
                (4.0, "Severe"),
            ]),
            meaningful: Some(Meaningful::DropAtLeast { value: 1.0 }),
            ..def("cea", "Clinician's Erythema Assessment", "Redness 0–4.", 0.0, 4.0, Down)
        },
        ScaleDef {
            anchors: anchors(&[
                (0.0, "Clear"),
                (1.0, "Almost clear"),
                (2.0, "Mild"),
                (3.0, "Moderate"),
                (4.0, "Severe"),
            ]),
            meaningful: Some(Meaningful::IgaSuccess),
            ..def(
                "iga_acne",
                "Investigator's Global Assessment (acne)",
                "Acne severity 0–4; success is 0/1 with a drop of 2 grades.",
                0.0,
                4.0,
                Down,
            )
        },
        ScaleDef {
            items: posas_items(true),
            compute: Compute::Sum,
            ..def("posas_observer", "POSAS observer scale", "Six items, each 1–10; total 6–60.", 6.0, 60.0, Down)
        },
        ScaleDef {
            items: posas_items(false),
            compute: Compute::Sum,
            raters: vec![Rater::Patient, Rater::Clinician],
            ..def("posas_patient", "POSAS patient scale", "Six items, each 1–10; total 6–60.", 6.0, 60.0, Down)
        },
        ScaleDef {
            items: vec![
                Item { key: "vascularity".into(), label: "Vascularity".into(), min: 0.0, max: 3.0 },
                Item { key: "pigmentation".into(), label: "Pigmentation".into(), min: 0.0, max: 2.0 },
                Item { key: "pliability".into(), label: "Pliability".into(), min: 0.0, max: 5.0 },
                Item { key: "height".into(), label: "Height".into(), min: 0.0, max: 3.0 },
            ],
            compute: Compute::Sum,
            ..def("vancouver_scar", "Vancouver Scar Scale", "Four items; total 0–13.", 0.0, 13.0, Down)
        },
        ScaleDef {
            anchors: anchors(&[(0.0, "None"), (1.0, "Faint"), (2.0, "Mild"), (3.0, "Moderate"), (4.0, "Severe")]),
            raters: vec![Rater::Patient],
            meaningful: Some(Meaningful::DropAtLeast { value: 1.0 }),
            ..def(
                "patient_redness",
                "Patient-reported redness",
                "How red the skin looks to the patient, 0–4.",
                0.0,
                4.0,
                Down,
            )
        },
        ScaleDef {
            anchors: anchors(&[(0.0, "Not at all satisfied"), (10.0, "Completely satisfied")]),
            raters: vec![Rater::Patient],
            meaningful: Some(Meaningful::DropAtLeast { value: 2.0 }),
            ..def("satisfaction", "Patient satisfaction", "0–10.", 0.0, 10.0, Up)
        },
        ScaleDef {
            integer: false,
            raters: vec![Rater::Automatic],
            ..def(
                "erythema_a_star",
                "Photo redness (mean CIELAB a*)",
                "Computed on upload over the region of interest; compare with the patient's own baseline of the same view.",
                -128.0,
                128.0,
                Down,
            )
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn scale(code: &str) -> ScaleDef {
        builtin().into_iter().find(|s| s.code == code).unwrap()
    }

    #[test]
    fn direct_values_are_bounded_and_whole() {
        let gais = scale("gais");
        assert_eq!(score_value(&gais, Some(3.0), None), Ok(3.0));
        assert!(score_value(&gais, Some(6.0), None).is_err());
        assert!(score_value(&gais, Some(2.5), None).is_err());
        assert!(score_value(&gais, None, None).is_err());
        assert_eq!(score_value(&scale("erythema_a_star"), Some(12.34), None), Ok(12.34));
    }

    #[test]
    fn item_scales_sum_their_items_and_name_the_bad_ones() {
        let vss = scale("vancouver_scar");
        let ok: BTreeMap<String, f64> =
            [("vascularity", 2.0), ("pigmentation", 1.0), ("pliability", 3.0), ("height", 1.0)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        assert_eq!(score_value(&vss, None, Some(&ok)), Ok(7.0));
        let mut bad = ok.clone();
        bad.insert("pigmentation".into(), 3.0);
        bad.insert("colour".into(), 1.0);
        bad.remove("height");
        let fields: Vec<String> =
            score_value(&vss, None, Some(&bad)).unwrap_err().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["items.colour", "items.pigmentation", "items.height"]);
        assert!(score_value(&vss, Some(7.0), Some(&ok)).is_err(), "value is computed");
    }

    #[test]
    fn goodman_baron_points_follow_grade_and_count() {
        let gb = scale("goodman_baron_quantitative");
        let counts: BTreeMap<String, f64> = [("macular", 5.0), ("mild", 15.0), ("moderate", 0.0), ("severe", 30.0)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        // 1×1 + 2×2 + 3×0 + 4×3 = 17
        assert_eq!(score_value(&gb, None, Some(&counts)), Ok(17.0));
    }

    #[test]
    fn meaningful_change_follows_each_scales_rule() {
        assert_eq!(meaningful(&scale("gais"), 4.0, 3.0), Some(true));
        assert_eq!(meaningful(&scale("gais"), 4.0, 4.0), Some(false));
        assert_eq!(meaningful(&scale("goodman_baron_qualitative"), 3.0, 2.0), Some(true));
        assert_eq!(meaningful(&scale("iga_acne"), 3.0, 1.0), Some(true));
        assert_eq!(meaningful(&scale("iga_acne"), 2.0, 1.0), Some(false));
        assert_eq!(meaningful(&scale("satisfaction"), 4.0, 7.0), Some(true));
        assert_eq!(meaningful(&scale("posas_observer"), 40.0, 20.0), None);
    }

    #[test]
    fn every_builtin_is_consistent() {
        let all = builtin();
        let mut codes = std::collections::HashSet::new();
        for s in &all {
            assert!(codes.insert(s.code.clone()), "{}", s.code);
            assert!(s.min < s.max);
            assert!(s.anchors.iter().all(|a| a.value >= s.min && a.value <= s.max), "{}", s.code);
            assert_eq!(s.items.is_empty(), s.compute == Compute::Direct, "{}", s.code);
        }
        assert_eq!(all.len(), 11);
    }
}
