//! Reading a price list from CSV (`csv`) or XLSX (`calamine`) into validated items.
//!
//! Headers are matched by name in Russian, English or Kazakh, in any order. Every data
//! row ends up either as an item or in `rejected` with its row number (as a spreadsheet
//! shows it: the header is row 1) and the reason; blank rows are counted.

use super::{Availability, CatalogError, CatalogItem};
use std::collections::HashMap;

/// Largest catalog one import accepts.
pub const MAX_ITEMS: usize = 500_000;
const MAX_SKU: usize = 64;
const MAX_NAME: usize = 300;
const MAX_TEXT: usize = 2_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    Sku,
    Name,
    NameEn,
    Price,
    Currency,
    Availability,
    Quantity,
    Url,
    Photo,
    Category,
    Brand,
    Description,
}

impl Column {
    fn from_header(raw: &str) -> Option<Self> {
        let h = raw
            .trim()
            .trim_start_matches('\u{feff}')
            .to_lowercase()
            .replace(['_', '-'], " ");
        let column = match h.as_str() {
            "sku"
            | "артикул"
            | "код"
            | "code"
            | "article"
            | "item code"
            | "part number"
            | "vendor code"
            | "код товара"
            | "артикулы" => Self::Sku,
            "name"
            | "название"
            | "наименование"
            | "товар"
            | "product"
            | "title"
            | "product name"
            | "атауы"
            | "наименование товара" => Self::Name,
            "name en" | "english name" | "name (en)" | "название en" | "название (en)" => {
                Self::NameEn
            }
            "price"
            | "цена"
            | "стоимость"
            | "баға"
            | "бағасы"
            | "цена, тг"
            | "цена (тг)"
            | "розничная цена" => Self::Price,
            "currency" | "валюта" => Self::Currency,
            "availability" | "наличие" | "stock" | "in stock" | "статус" | "status" => {
                Self::Availability
            }
            "quantity" | "qty" | "количество" | "остаток" | "кол во" | "саны" => {
                Self::Quantity
            }
            "url" | "link" | "ссылка" | "сайт" | "product url" => Self::Url,
            "photo" | "image" | "фото" | "изображение" | "image url" | "photo url" | "картинка" => {
                Self::Photo
            }
            "category" | "категория" | "раздел" | "группа" | "санат" => {
                Self::Category
            }
            "brand" | "бренд" | "производитель" | "manufacturer" | "марка" => {
                Self::Brand
            }
            "description" | "описание" | "сипаттама" => Self::Description,
            _ => return None,
        };
        Some(column)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RejectedRow {
    /// 1-based row number in the file; the header is row 1.
    pub row: usize,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub items: Vec<CatalogItem>,
    pub rejected: Vec<RejectedRow>,
    pub blank_rows: usize,
    /// Header cells that matched no known column (kept out of the index).
    pub ignored_columns: Vec<String>,
    pub data_rows: usize,
}

/// A file's header and rows as strings, before validation.
pub struct Sheet {
    pub header: Vec<String>,
    /// `(row number, cells)`.
    pub rows: Vec<(usize, Vec<String>)>,
    /// Empty lines the reader skipped (counted, never silently dropped).
    pub blank_lines: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    Csv,
    Xlsx,
}

impl SourceFormat {
    pub fn from_path(path: &std::path::Path) -> Result<Self, CatalogError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") | Some("txt") => Ok(Self::Csv),
            Some("xlsx") | Some("xlsm") | Some("xls") | Some("ods") => Ok(Self::Xlsx),
            _ => Err(CatalogError::Format(format!(
                "{}: expected a .csv or .xlsx file",
                path.display()
            ))),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        }
    }
}

pub fn read_sheet(bytes: &[u8], format: SourceFormat) -> Result<Sheet, CatalogError> {
    match format {
        SourceFormat::Csv => read_csv(bytes),
        SourceFormat::Xlsx => read_xlsx(bytes),
    }
}

/// CSV in UTF-8 (a BOM is fine), separated by `,`, `;` (Excel in ru/kk locales) or tab.
pub fn read_csv(bytes: &[u8]) -> Result<Sheet, CatalogError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        CatalogError::Format(format!(
            "the CSV is not UTF-8 (byte {}); save it as \"CSV UTF-8\"",
            e.valid_up_to()
        ))
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let first_line = text.lines().next().unwrap_or_default();
    let delimiter = [b';', b'\t', b',']
        .into_iter()
        .max_by_key(|d| first_line.bytes().filter(|b| b == d).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let lines: Vec<&str> = text.lines().collect();
    let newlines: Vec<usize> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b == b'\n')
        .map(|(i, _)| i)
        .collect();
    // The reader skips empty lines; count them so every line is accounted for.
    let blank_between = |from: usize, to: usize| {
        (from..to)
            .filter(|&n| {
                lines
                    .get(n.wrapping_sub(1))
                    .is_some_and(|l| l.trim().is_empty())
            })
            .count()
    };
    let mut header = None;
    let mut rows = Vec::new();
    let mut blank_lines = 0;
    let mut previous_line = 0;
    for record in reader.records() {
        let record = record.map_err(|e| CatalogError::Format(format!("CSV: {e}")))?;
        // Row numbers are physical lines, as an editor shows them.
        // A record's position is where the previous one ended: step over the empty
        // lines the reader skipped to reach the record's first character.
        let mut byte = record.position().map(|p| p.byte() as usize).unwrap_or(0);
        while matches!(text.as_bytes().get(byte), Some(b'\n' | b'\r')) {
            byte += 1;
        }
        let line = 1 + newlines.partition_point(|&n| n < byte);
        blank_lines += blank_between(previous_line + 1, line);
        previous_line = line;
        let cells: Vec<String> = record.iter().map(str::to_owned).collect();
        if header.is_none() {
            header = Some(cells);
        } else {
            rows.push((line, cells));
        }
    }
    blank_lines += blank_between(previous_line + 1, lines.len() + 1);
    Ok(Sheet {
        header: header.ok_or_else(|| CatalogError::Format("the file is empty".into()))?,
        rows,
        blank_lines,
    })
}

/// The first worksheet of an XLSX (or XLS/ODS) workbook.
pub fn read_xlsx(bytes: &[u8]) -> Result<Sheet, CatalogError> {
    use calamine::{Data, Reader};
    let mut workbook = calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes))
        .map_err(|e| CatalogError::Format(format!("spreadsheet: {e}")))?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or_else(|| CatalogError::Format("the workbook has no sheet".into()))?
        .map_err(|e| CatalogError::Format(format!("spreadsheet: {e}")))?;
    let first_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    let first_col = range.start().map(|(_, c)| c as usize).unwrap_or(0);
    let cell = |d: &Data| -> String {
        match d {
            Data::Empty => String::new(),
            Data::String(s) => s.clone(),
            Data::Int(i) => i.to_string(),
            // Whole numbers typed in Excel come back as floats: 12500.0 → "12500".
            Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
            Data::Float(f) => f.to_string(),
            Data::Bool(b) => b.to_string(),
            Data::DateTime(dt) => dt.to_string(),
            Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
            Data::Error(e) => format!("#ERROR {e}"),
        }
    };
    let mut header = None;
    let mut rows = Vec::new();
    for (i, row) in range.rows().enumerate() {
        let mut cells: Vec<String> = vec![String::new(); first_col];
        cells.extend(row.iter().map(cell));
        if header.is_none() {
            if cells.iter().all(|c| c.trim().is_empty()) {
                continue;
            }
            header = Some(cells);
        } else {
            rows.push((first_row + i + 1, cells));
        }
    }
    Ok(Sheet {
        header: header.ok_or_else(|| CatalogError::Format("the sheet is empty".into()))?,
        rows,
        blank_lines: 0,
    })
}

/// Validates rows into items. `progress(done, total)` is called as rows are read.
pub fn validate(
    sheet: Sheet,
    default_currency: Option<&str>,
    mut progress: impl FnMut(usize, usize),
) -> Result<ImportReport, CatalogError> {
    let mut columns: HashMap<Column, usize> = HashMap::new();
    let mut report = ImportReport::default();
    for (i, raw) in sheet.header.iter().enumerate() {
        match Column::from_header(raw) {
            Some(c) => {
                if columns.insert(c, i).is_some() {
                    return Err(CatalogError::Format(format!(
                        "column {raw:?} appears twice in the header"
                    )));
                }
            }
            None if raw.trim().is_empty() => {}
            None => report.ignored_columns.push(raw.trim().to_owned()),
        }
    }
    for required in [Column::Sku, Column::Name] {
        if !columns.contains_key(&required) {
            return Err(CatalogError::Format(format!(
                "the header has no {} column (found: {})",
                if required == Column::Sku {
                    "SKU (sku / артикул)"
                } else {
                    "name (name / наименование)"
                },
                sheet.header.join(", ")
            )));
        }
    }
    let total = sheet.rows.len();
    report.data_rows = total + sheet.blank_lines;
    report.blank_rows = sheet.blank_lines;
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for (done, (row, cells)) in sheet.rows.into_iter().enumerate() {
        if done % 1_000 == 0 {
            progress(done, total);
        }
        if cells.iter().all(|c| c.trim().is_empty()) {
            report.blank_rows += 1;
            continue;
        }
        let get = |c: Column| -> Option<String> {
            columns
                .get(&c)
                .and_then(|&i| cells.get(i))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        match item_from_row(&get, default_currency) {
            Ok(item) => {
                let key = item.sku.to_lowercase();
                if let Some(first) = first_seen.get(&key) {
                    report.rejected.push(RejectedRow {
                        row,
                        reason: format!("duplicate SKU {:?} (first at row {first})", item.sku),
                    });
                    continue;
                }
                if report.items.len() >= MAX_ITEMS {
                    report.rejected.push(RejectedRow {
                        row,
                        reason: format!("over the limit of {MAX_ITEMS} items per catalog"),
                    });
                    continue;
                }
                first_seen.insert(key, row);
                report.items.push(item);
            }
            Err(reason) => report.rejected.push(RejectedRow { row, reason }),
        }
    }
    progress(total, total);
    Ok(report)
}

fn item_from_row(
    get: &dyn Fn(Column) -> Option<String>,
    default_currency: Option<&str>,
) -> Result<CatalogItem, String> {
    let sku = get(Column::Sku).ok_or("SKU is empty")?;
    if sku.chars().count() > MAX_SKU {
        return Err(format!("SKU is longer than {MAX_SKU} characters"));
    }
    if sku.chars().any(char::is_control) {
        return Err("SKU contains control characters".into());
    }
    let name = get(Column::Name).ok_or("name is empty")?;
    if name.chars().count() > MAX_NAME {
        return Err(format!("name is longer than {MAX_NAME} characters"));
    }
    let price_minor = match get(Column::Price) {
        None => None,
        Some(raw) => {
            Some(parse_price(&raw).ok_or_else(|| format!("price {raw:?} is not a number"))?)
        }
    };
    let (mut availability, mut quantity) = match get(Column::Availability) {
        None => (Availability::Unknown, None),
        Some(raw) => Availability::parse(&raw)
            .ok_or_else(|| format!("availability {raw:?} is not understood"))?,
    };
    if let Some(raw) = get(Column::Quantity) {
        match Availability::parse(&raw) {
            Some((state, Some(n))) => {
                quantity = Some(n);
                if availability == Availability::Unknown {
                    availability = state;
                }
            }
            _ => return Err(format!("quantity {raw:?} is not a whole number ≥ 0")),
        }
    }
    let link = |c: Column, what: &str| -> Result<Option<String>, String> {
        match get(c) {
            None => Ok(None),
            Some(u)
                if (u.starts_with("https://") || u.starts_with("http://"))
                    && !u.contains(char::is_whitespace) =>
            {
                Ok(Some(u))
            }
            Some(u) => Err(format!("{what} {u:?} is not an http(s) URL")),
        }
    };
    let currency = match get(Column::Currency) {
        Some(c) if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(c) => return Err(format!("currency {c:?} is not an ISO 4217 code")),
        None => default_currency.map(str::to_owned),
    };
    let text = |c: Column| get(c).map(|v| v.chars().take(MAX_TEXT).collect::<String>());
    Ok(CatalogItem {
        sku,
        name,
        name_en: text(Column::NameEn),
        price_minor,
        currency,
        availability,
        quantity,
        url: link(Column::Url, "URL")?,
        photo_url: link(Column::Photo, "photo URL")?,
        category: text(Column::Category),
        brand: text(Column::Brand),
        description: text(Column::Description),
    })
}

/// Parses `12500`, `12 500,50`, `12,500.50`, `12.500,50`, `1 299 ₸` into minor units.
pub fn parse_price(raw: &str) -> Option<i64> {
    let cleaned: String = raw
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '-'))
        .collect();
    if cleaned.is_empty() || cleaned.starts_with('-') || cleaned.matches('-').count() > 0 {
        return None;
    }
    // The last separator followed by one or two digits is the decimal point; any other
    // separator groups thousands.
    let (int_part, frac_part) = match cleaned.rfind(['.', ',']) {
        Some(i) if (1..=2).contains(&(cleaned.len() - i - 1)) => (&cleaned[..i], &cleaned[i + 1..]),
        _ => (cleaned.as_str(), ""),
    };
    let int_digits: String = int_part.chars().filter(char::is_ascii_digit).collect();
    if int_digits.is_empty() || int_digits.len() > 13 {
        return None;
    }
    let units: i64 = int_digits.parse().ok()?;
    let cents: i64 = match frac_part.len() {
        0 => 0,
        1 => frac_part.parse::<i64>().ok()? * 10,
        _ => frac_part.parse().ok()?,
    };
    units.checked_mul(100)?.checked_add(cents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_in_local_spellings() {
        assert_eq!(parse_price("12500"), Some(1_250_000));
        assert_eq!(parse_price("12 500,50"), Some(1_250_050));
        assert_eq!(parse_price("12,500.50"), Some(1_250_050));
        assert_eq!(parse_price("12.500,5"), Some(1_250_050));
        assert_eq!(parse_price("1 299 ₸"), Some(129_900));
        assert_eq!(parse_price("1,299"), Some(129_900));
        assert_eq!(parse_price("abc"), None);
        assert_eq!(parse_price("-5"), None);
    }

    #[test]
    fn csv_rows_are_validated_with_row_numbers() {
        let csv = "\u{feff}Артикул;Наименование;Цена;Наличие;Ссылка;Колонка X\n\
                   GR-1;Насос Grundfos CR 10;12 500;да;https://shop.kz/gr-1;x\n\
                   ;Без артикула;100;да;;\n\
                   \n\
                   GR-2;Насос;abc;да;;\n\
                   GR-1;Дубликат;1;да;;\n\
                   GR-3;\"Кран; латунь\";99,90;под заказ;ftp://x;\n\
                   GR-4;Кран;10;maybe;;\n\
                   GR-5;Фильтр;;;;\n";
        let sheet = read_csv(csv.as_bytes()).unwrap();
        let report = validate(sheet, Some("KZT"), |_, _| {}).unwrap();
        let skus: Vec<&str> = report.items.iter().map(|i| i.sku.as_str()).collect();
        assert_eq!(skus, ["GR-1", "GR-5"]);
        assert_eq!(report.items[0].price_minor, Some(1_250_000));
        assert_eq!(report.items[0].currency.as_deref(), Some("KZT"));
        assert_eq!(report.items[0].availability, Availability::InStock);
        assert_eq!(report.blank_rows, 1);
        assert_eq!(report.ignored_columns, ["Колонка X"]);
        let rejected: Vec<(usize, &str)> = report
            .rejected
            .iter()
            .map(|r| (r.row, r.reason.as_str()))
            .collect();
        assert_eq!(rejected.len(), 5, "{rejected:?}");
        assert_eq!(rejected[0], (3, "SKU is empty"));
        assert_eq!(rejected[1].0, 5);
        assert!(rejected[1].1.contains("price"));
        assert_eq!(rejected[2].0, 6);
        assert!(rejected[2].1.contains("duplicate SKU") && rejected[2].1.contains("row 2"));
        assert_eq!(rejected[3].0, 7);
        assert!(rejected[3].1.contains("URL"));
        assert_eq!(rejected[4].0, 8);
        assert!(rejected[4].1.contains("availability"));
        // Every data row is accounted for.
        assert_eq!(
            report.items.len() + report.rejected.len() + report.blank_rows,
            report.data_rows
        );
    }

    #[test]
    fn missing_required_columns_fail_the_import() {
        let sheet = read_csv(b"name,price\nx,1\n").unwrap();
        let err = validate(sheet, None, |_, _| {}).unwrap_err();
        assert!(err.to_string().contains("SKU"), "{err}");
    }

    #[test]
    fn xlsx_sheets_import_with_row_numbers() {
        use rust_xlsxwriter::Workbook;
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        let rows: [[&str; 4]; 4] = [
            ["Артикул", "Наименование", "Цена", "Остаток"],
            ["GR-1", "Насос Grundfos", "", "5"],
            ["", "Без артикула", "", ""],
            ["GR-2", "Кран", "", "нет"],
        ];
        for (r, row) in rows.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                if !value.is_empty() {
                    sheet.write_string(r as u32, c as u16, *value).unwrap();
                }
            }
        }
        // Prices typed as numbers come back as floats.
        sheet.write_number(1, 2, 12500.0).unwrap();
        sheet.write_number(3, 2, 99.9).unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let report = validate(read_xlsx(&bytes).unwrap(), Some("KZT"), |_, _| {}).unwrap();
        assert_eq!(report.items.len(), 1);
        assert_eq!(report.items[0].price_minor, Some(1_250_000));
        assert_eq!(report.items[0].quantity, Some(5));
        assert_eq!(report.items[0].availability, Availability::InStock);
        let rejected: Vec<(usize, &str)> = report
            .rejected
            .iter()
            .map(|r| (r.row, r.reason.as_str()))
            .collect();
        assert_eq!(rejected[0], (3, "SKU is empty"));
        assert_eq!(rejected[1].0, 4, "quantity \"нет\" is not a number");
        assert!(read_xlsx(b"PK not really a zip").is_err());
    }

    #[test]
    fn non_utf8_csv_is_refused_clearly() {
        let err = read_csv(&[0xcf, 0xf0, 0xe8, b'\n']).err().unwrap();
        assert!(err.to_string().contains("UTF-8"));
    }
}
