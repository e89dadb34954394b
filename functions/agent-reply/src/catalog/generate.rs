//! A realistic demo catalog for the local stack and the benchmarks: an equipment
//! supplier's price list with Russian and English names, brands, model codes, SKUs,
//! prices in tenge, stock levels, product URLs and photos. Deterministic per seed.

use super::{Availability, CatalogItem};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Family {
    ru: &'static str,
    en: &'static str,
    category_ru: &'static str,
    brands: &'static [&'static str],
    models: &'static [&'static str],
    specs: &'static [(&'static str, &'static str)],
    price_range: (i64, i64),
}

const FAMILIES: &[Family] = &[
    Family {
        ru: "Насос центробежный",
        en: "Centrifugal pump",
        category_ru: "Насосы",
        brands: &[
            "Grundfos", "Wilo", "Pedrollo", "Calpeda", "DAB", "Ebara", "Lowara",
        ],
        models: &[
            "CR 10", "CR 5", "CM 3", "MVI 1604", "CP 158", "NM 25", "JET 102",
        ],
        specs: &[
            ("0,75 кВт", "0.75 kW"),
            ("1,1 кВт", "1.1 kW"),
            ("2,2 кВт", "2.2 kW"),
            ("4 кВт", "4 kW"),
        ],
        price_range: (45_000, 1_200_000),
    },
    Family {
        ru: "Насос циркуляционный",
        en: "Circulation pump",
        category_ru: "Насосы",
        brands: &["Grundfos", "Wilo", "DAB", "Unipump", "Aquario"],
        models: &[
            "UPS 25-40",
            "UPS 32-60",
            "Stratos 25/1-6",
            "Yonos PICO 25/1-4",
            "VA 35/180",
            "ALPHA2 25-60",
        ],
        specs: &[("180 мм", "180 mm"), ("130 мм", "130 mm")],
        price_range: (25_000, 450_000),
    },
    Family {
        ru: "Насос дренажный",
        en: "Drainage pump",
        category_ru: "Насосы",
        brands: &["Grundfos", "Pedrollo", "Karcher", "Джилекс", "Unipump"],
        models: &[
            "Unilift KP 250",
            "TOP 2",
            "SP 9.000",
            "Дренажник 110/8",
            "VORT 401",
        ],
        specs: &[("9 м³/ч", "9 m³/h"), ("13 м³/ч", "13 m³/h")],
        price_range: (18_000, 260_000),
    },
    Family {
        ru: "Шаровой кран",
        en: "Ball valve",
        category_ru: "Запорная арматура",
        brands: &["Danfoss", "Valtec", "Bugatti", "Giacomini", "LD"],
        models: &["VT.214", "BASE", "Pride", "R910", "X-Press"],
        specs: &[
            ("1/2\"", "1/2\""),
            ("3/4\"", "3/4\""),
            ("1\"", "1\""),
            ("Ду50", "DN50"),
        ],
        price_range: (1_800, 95_000),
    },
    Family {
        ru: "Задвижка чугунная",
        en: "Cast iron gate valve",
        category_ru: "Запорная арматура",
        brands: &["Tecofi", "Zetkama", "AVK", "Гусар"],
        models: &["30ч39р", "VE5032", "06/30", "МЗВ"],
        specs: &[
            ("Ду50", "DN50"),
            ("Ду80", "DN80"),
            ("Ду100", "DN100"),
            ("Ду150", "DN150"),
        ],
        price_range: (38_000, 480_000),
    },
    Family {
        ru: "Котёл газовый настенный",
        en: "Wall-hung gas boiler",
        category_ru: "Котлы",
        brands: &["Baxi", "Vaillant", "Bosch", "Navien", "Buderus", "Protherm"],
        models: &[
            "ECO-4s 24F",
            "ecoTEC plus",
            "Gaz 6000 W",
            "Deluxe 24K",
            "Logamax U072",
            "Пантера 25",
        ],
        specs: &[
            ("24 кВт", "24 kW"),
            ("28 кВт", "28 kW"),
            ("35 кВт", "35 kW"),
        ],
        price_range: (280_000, 1_900_000),
    },
    Family {
        ru: "Радиатор биметаллический",
        en: "Bimetallic radiator",
        category_ru: "Радиаторы",
        brands: &["Rifar", "Global", "Royal Thermo", "Sira", "Tenrad"],
        models: &[
            "Base 500",
            "Style Plus 500",
            "BiLiner 500",
            "RS 500",
            "BM 350",
        ],
        specs: &[
            ("4 секции", "4 sections"),
            ("8 секций", "8 sections"),
            ("10 секций", "10 sections"),
            ("12 секций", "12 sections"),
        ],
        price_range: (22_000, 160_000),
    },
    Family {
        ru: "Водонагреватель накопительный",
        en: "Storage water heater",
        category_ru: "Водонагреватели",
        brands: &["Ariston", "Thermex", "Electrolux", "Gorenje", "Haier"],
        models: &[
            "ABS PRO R 80 V",
            "Flat Plus 50",
            "EWH 100 Formax",
            "OTG 80 SL",
            "ES50V-A3",
        ],
        specs: &[("50 л", "50 L"), ("80 л", "80 L"), ("100 л", "100 L")],
        price_range: (65_000, 420_000),
    },
    Family {
        ru: "Труба полипропиленовая",
        en: "Polypropylene pipe",
        category_ru: "Трубы",
        brands: &["Valtec", "Rehau", "Pro Aqua", "Kalde", "FV-Plast"],
        models: &["PN20", "PN25 Stabi", "PN10", "Faser"],
        specs: &[
            ("20 мм", "20 mm"),
            ("25 мм", "25 mm"),
            ("32 мм", "32 mm"),
            ("40 мм", "40 mm"),
        ],
        price_range: (450, 6_500),
    },
    Family {
        ru: "Фильтр сетчатый",
        en: "Strainer filter",
        category_ru: "Фильтры",
        brands: &["Honeywell", "Valtec", "Danfoss", "Aquafilter"],
        models: &["FF06", "VT.192", "Y222", "FHPR"],
        specs: &[("1/2\"", "1/2\""), ("3/4\"", "3/4\""), ("1\"", "1\"")],
        price_range: (3_500, 85_000),
    },
    Family {
        ru: "Счётчик воды",
        en: "Water meter",
        category_ru: "Приборы учёта",
        brands: &["Itelma", "Valtec", "Decast", "Pulsar", "Zenner"],
        models: &["WFK24", "VLF-15U", "СВК-15", "Пульсар-М", "ETKD"],
        specs: &[("Ду15", "DN15"), ("Ду20", "DN20")],
        price_range: (4_500, 38_000),
    },
    Family {
        ru: "Дрель-шуруповёрт аккумуляторная",
        en: "Cordless drill driver",
        category_ru: "Инструмент",
        brands: &["Bosch", "Makita", "DeWalt", "Metabo", "Hilti"],
        models: &["GSR 18V-55", "DDF485", "DCD791", "BS 18 LT", "SF 4-A22"],
        specs: &[("18 В", "18 V"), ("12 В", "12 V")],
        price_range: (35_000, 320_000),
    },
    Family {
        ru: "Перфоратор",
        en: "Rotary hammer",
        category_ru: "Инструмент",
        brands: &["Bosch", "Makita", "DeWalt", "Metabo", "Интерскол"],
        models: &["GBH 2-26", "HR2470", "D25133K", "KHE 2660", "П-26/800ЭР"],
        specs: &[("800 Вт", "800 W"), ("1100 Вт", "1100 W")],
        price_range: (42_000, 380_000),
    },
    Family {
        ru: "Гидроаккумулятор",
        en: "Pressure tank",
        category_ru: "Баки",
        brands: &["Reflex", "Zilmet", "Джилекс", "Wester", "Aquasystem"],
        models: &["Refix DE", "Hydro-Pro", "В 50", "WAV", "VAV"],
        specs: &[("24 л", "24 L"), ("50 л", "50 L"), ("100 л", "100 L")],
        price_range: (12_000, 210_000),
    },
];

/// `n` items; the same `seed` gives the same catalog.
pub fn demo_items(n: usize, seed: u64) -> Vec<CatalogItem> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let family = &FAMILIES[i % FAMILIES.len()];
        let brand = family.brands[rng.random_range(0..family.brands.len())];
        let model = family.models[rng.random_range(0..family.models.len())];
        let (spec_ru, spec_en) = family.specs[rng.random_range(0..family.specs.len())];
        let variant = rng.random_range(1..=9);
        let brand_code: String = brand
            .chars()
            .filter(|c| c.is_ascii_alphabetic())
            .take(3)
            .collect::<String>()
            .to_ascii_uppercase();
        let brand_code = if brand_code.len() < 2 {
            "RU".to_owned()
        } else {
            brand_code
        };
        let model_code: String = model
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect::<String>()
            .to_ascii_uppercase();
        let sku = format!("{brand_code}-{model_code}-{variant}-{i:05}");
        let (low, high) = family.price_range;
        // Round prices as shops do: to 10 tenge below 10 000, to 100 above.
        let raw = rng.random_range(low..=high);
        let price = if raw < 10_000 {
            raw / 10 * 10
        } else {
            raw / 100 * 100
        };
        let roll: u8 = rng.random_range(0..100);
        let (availability, quantity) = match roll {
            0..=64 => (Availability::InStock, Some(rng.random_range(1..=120))),
            65..=79 => (Availability::OnOrder, None),
            _ => (Availability::OutOfStock, Some(0)),
        };
        let slug = sku.to_ascii_lowercase();
        items.push(CatalogItem {
            sku,
            name: format!("{} {brand} {model}-{variant} {spec_ru}", family.ru),
            name_en: Some(format!("{} {brand} {model}-{variant} {spec_en}", family.en)),
            price_minor: Some(price * 100),
            currency: Some("KZT".into()),
            availability,
            quantity,
            url: Some(format!("https://demo-equipment.kz/p/{slug}")),
            photo_url: Some(format!("https://demo-equipment.kz/img/{slug}.jpg")),
            category: Some(family.category_ru.to_owned()),
            brand: Some(brand.to_owned()),
            description: Some(format!(
                "{} {brand} серии {model}, исполнение {variant}, {spec_ru}. Гарантия {} мес. / {} {brand} {model}, {spec_en}.",
                family.ru,
                [12, 24, 36][rng.random_range(0..3)],
                family.en
            )),
        });
    }
    items
}

pub const CSV_HEADER: [&str; 12] = [
    "sku",
    "name",
    "name_en",
    "category",
    "brand",
    "price",
    "currency",
    "availability",
    "quantity",
    "url",
    "photo_url",
    "description",
];

/// Writes items as a CSV the import reads back.
pub fn write_csv<W: std::io::Write>(items: &[CatalogItem], out: W) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(CSV_HEADER)?;
    for item in items {
        let price = item
            .price_minor
            .map(|p| format!("{}.{:02}", p / 100, p % 100))
            .unwrap_or_default();
        let quantity = item.quantity.map(|q| q.to_string()).unwrap_or_default();
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        writer.write_record([
            item.sku.clone(),
            item.name.clone(),
            opt(&item.name_en),
            opt(&item.category),
            opt(&item.brand),
            price,
            opt(&item.currency),
            item.availability.as_str().replace('_', " "),
            quantity,
            opt(&item.url),
            opt(&item.photo_url),
            opt(&item.description),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::import;

    #[test]
    fn generated_csv_imports_without_rejects() {
        let items = demo_items(500, 7);
        assert_eq!(demo_items(500, 7), items, "deterministic");
        let mut csv = Vec::new();
        write_csv(&items, &mut csv).unwrap();
        let sheet = import::read_csv(&csv).unwrap();
        let report = import::validate(sheet, None, |_, _| {}).unwrap();
        assert!(
            report.rejected.is_empty(),
            "{:?}",
            &report.rejected[..3.min(report.rejected.len())]
        );
        assert_eq!(report.items, items);
    }
}
