//! vCard rendering of the demo address book: vCard 3.0 (RFC 2426, with the iOS
//! conventions) for about 60 % of the people and vCard 4.0 (RFC 6350) for the rest.

use super::data::{directory, Person, Photo, PHOTO_JPEG_B64, PHOTO_PNG_B64};
use super::text::{escape_text, structured, text_list, Lines};
use super::DemoItem;

pub(crate) fn contacts() -> Vec<DemoItem> {
    directory()
        .iter()
        .map(|p| DemoItem {
            name: format!("{}.vcf", p.uid()),
            body: if p.v4 { vcard4(p) } else { vcard3(p) },
        })
        .collect()
}

/// `+49 30 2589 123` as a tel: URI (RFC 3966): `tel:+49-30-2589-123`.
fn tel_uri(number: &str) -> String {
    format!(
        "tel:{}",
        number.split_whitespace().collect::<Vec<_>>().join("-")
    )
}

fn n_value(p: &Person) -> String {
    structured(&[&p.family, &p.given, "", p.prefix, ""])
}

fn adr_value(street: &str, city: &str, region: &str, postcode: &str, country: &str) -> String {
    structured(&["", "", street, city, region, postcode, country])
}

fn vcard3(p: &Person) -> String {
    let c = p.company;
    let mut l = Lines::new();
    l.line("BEGIN:VCARD");
    l.line("VERSION:3.0");
    l.line("PRODID:-//crmdav//demo//EN");
    l.line(&format!("UID:{}", p.uid()));
    l.text("FN", &p.full);
    l.line(&format!("N:{}", n_value(p)));
    if let Some(nick) = p.nickname {
        l.text("NICKNAME", nick);
    }
    l.line(&format!("ORG:{}", structured(&[c.name, p.department])));
    l.text("TITLE", p.title);
    l.line(&format!(
        "EMAIL;TYPE=INTERNET;TYPE=WORK;TYPE=PREF:{}",
        p.email
    ));
    if let Some(home) = &p.home_email {
        l.line(&format!("EMAIL;TYPE=INTERNET;TYPE=HOME:{home}"));
    }
    if p.ios_groups {
        l.line(&format!("item1.TEL:{}", p.cell));
        l.line("item1.X-ABLabel:_$!<Mobile>!$_");
        if let Some(assistant) = &p.assistant_email {
            l.line(&format!("item2.EMAIL;TYPE=INTERNET:{assistant}"));
            l.line("item2.X-ABLabel:Assistant");
        }
    } else {
        l.line(&format!("TEL;TYPE=CELL:{}", p.cell));
    }
    l.line(&format!("TEL;TYPE=WORK;TYPE=VOICE:{}", p.work_tel));
    l.line(&format!(
        "ADR;TYPE=WORK:{}",
        adr_value(c.street, c.city, c.region, c.postcode, c.country)
    ));
    if let Some([street, city, region, pc, country]) = p.home_adr {
        l.line(&format!(
            "ADR;TYPE=HOME:{}",
            adr_value(street, city, region, pc, country)
        ));
    }
    // vCard 3.0 has no year-less dates; such birthdays are only written in 4.0.
    if let Some((Some(year), month, day)) = p.bday {
        l.line(&format!("BDAY:{year:04}-{month:02}-{day:02}"));
    }
    l.line(&format!("URL;TYPE=WORK:https://www.{}/", c.domain));
    l.line(&format!("CATEGORIES:{}", text_list(&p.categories)));
    if let Some(note) = &p.note {
        l.text("NOTE", note);
    }
    match p.photo {
        Some(Photo::Jpeg) => l.line(&format!("PHOTO;ENCODING=b;TYPE=JPEG:{PHOTO_JPEG_B64}")),
        Some(Photo::Png) => l.line(&format!("PHOTO;ENCODING=b;TYPE=PNG:{PHOTO_PNG_B64}")),
        None => {}
    }
    l.line("END:VCARD");
    l.finish()
}

fn vcard4(p: &Person) -> String {
    let c = p.company;
    let mut l = Lines::new();
    l.line("BEGIN:VCARD");
    l.line("VERSION:4.0");
    l.line("PRODID:-//crmdav//demo//EN");
    l.line(&format!("UID:{}", p.uid()));
    l.line("KIND:individual");
    l.text("FN", &p.full);
    l.line(&format!("N:{}", n_value(p)));
    if let Some(nick) = p.nickname {
        l.text("NICKNAME", nick);
    }
    l.line(&format!("ORG:{}", structured(&[c.name, p.department])));
    l.text("TITLE", p.title);
    l.line(&format!("EMAIL;TYPE=work;PREF=1:{}", p.email));
    if let Some(home) = &p.home_email {
        l.line(&format!("EMAIL;TYPE=home:{home}"));
    }
    if p.ios_groups {
        l.line(&format!("item1.TEL;VALUE=uri:{}", tel_uri(&p.cell)));
        l.line("item1.X-ABLabel:_$!<Mobile>!$_");
        if let Some(assistant) = &p.assistant_email {
            l.line(&format!("item2.EMAIL:{assistant}"));
            l.line("item2.X-ABLabel:Assistant");
        }
    } else {
        l.line(&format!("TEL;VALUE=uri;TYPE=cell:{}", tel_uri(&p.cell)));
    }
    l.line(&format!(
        "TEL;VALUE=uri;TYPE=\"work,voice\":{}",
        tel_uri(&p.work_tel)
    ));
    l.line(&format!(
        "ADR;TYPE=work:{}",
        adr_value(c.street, c.city, c.region, c.postcode, c.country)
    ));
    if let Some([street, city, region, pc, country]) = p.home_adr {
        l.line(&format!(
            "ADR;TYPE=home:{}",
            adr_value(street, city, region, pc, country)
        ));
    }
    match p.bday {
        Some((Some(year), month, day)) => l.line(&format!("BDAY:{year:04}{month:02}{day:02}")),
        Some((None, month, day)) => l.line(&format!("BDAY:--{month:02}{day:02}")),
        None => {}
    }
    l.line(&format!("URL;TYPE=work:https://www.{}/", c.domain));
    l.line(&format!("CATEGORIES:{}", text_list(&p.categories)));
    if let Some(note) = &p.note {
        l.line(&format!("NOTE:{}", escape_text(note)));
    }
    match p.photo {
        Some(Photo::Png) => l.line(&format!("PHOTO:data:image/png;base64,{PHOTO_PNG_B64}")),
        Some(Photo::Jpeg) => l.line(&format!("PHOTO:data:image/jpeg;base64,{PHOTO_JPEG_B64}")),
        None => {}
    }
    l.line("END:VCARD");
    l.finish()
}
