//! The fictitious CRM world behind the demo tenant: companies, people and the sales team.
//! All domains end in `.example` (RFC 2606); US numbers use the 555-01xx fiction range and
//! UK numbers the Ofcom drama ranges.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tz::Zone;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Culture {
    German,
    English,
    Irish,
    Spanish,
    French,
    Polish,
    Dutch,
    Turkish,
    Norwegian,
    Japanese,
    Chinese,
}

#[derive(Debug)]
pub(crate) struct Company {
    pub name: &'static str,
    pub domain: &'static str,
    pub street: &'static str,
    pub city: &'static str,
    pub region: &'static str,
    pub postcode: &'static str,
    pub country: &'static str,
    /// Zone used for meetings with this company; `None`: scheduled in UTC.
    pub zone: Option<Zone>,
    pub culture: Culture,
    /// Switchboard number template; each `#` becomes a random digit.
    pub tel: &'static str,
    /// Mobile number template; each `#` becomes a random digit.
    pub mobile: &'static str,
    /// Relative weight when picking companies for people and meetings.
    pub weight: u32,
}

macro_rules! company {
    ($name:expr, $domain:expr, $street:expr, $city:expr, $region:expr, $pc:expr, $country:expr,
     $zone:expr, $culture:expr, $tel:expr, $mobile:expr, $w:expr) => {
        Company {
            name: $name,
            domain: $domain,
            street: $street,
            city: $city,
            region: $region,
            postcode: $pc,
            country: $country,
            zone: $zone,
            culture: $culture,
            tel: $tel,
            mobile: $mobile,
            weight: $w,
        }
    };
}

use Culture as C;
const BER: Option<Zone> = Some(Zone::Berlin);
const NYC: Option<Zone> = Some(Zone::NewYork);
const TYO: Option<Zone> = Some(Zone::Tokyo);

#[rustfmt::skip]
pub(crate) static COMPANIES: &[Company] = &[
    company!("Acme GmbH", "acme-gmbh.example", "Friedrichstraße 123", "Berlin", "", "10117", "Germany", BER, C::German, "+49 30 2589 ###", "+49 151 ########", 6),
    company!("Nordwind Logistik AG", "nordwind-logistik.example", "Am Sandtorkai 41", "Hamburg", "", "20457", "Germany", BER, C::German, "+49 40 3017 ###", "+49 160 ########", 5),
    company!("Müller & Söhne KG", "mueller-soehne.example", "Leopoldstraße 8", "München", "Bayern", "80802", "Germany", BER, C::German, "+49 89 4411 ###", "+49 171 #######", 5),
    company!("Rheinblick Versicherung AG", "rheinblick.example", "Rheinauhafen 5", "Köln", "", "50678", "Germany", BER, C::German, "+49 221 9876 ###", "+49 172 #######", 4),
    company!("Schwarzwald Solar GmbH", "schwarzwald-solar.example", "Kaiser-Joseph-Straße 200", "Freiburg im Breisgau", "", "79098", "Germany", BER, C::German, "+49 761 2023 ###", "+49 152 ########", 4),
    company!("Elbtal Maschinenbau GmbH", "elbtal-mb.example", "Königsbrücker Str. 60", "Dresden", "Sachsen", "01099", "Germany", BER, C::German, "+49 351 8120 ###", "+49 176 ########", 4),
    company!("Alpenglück Hotels GmbH", "alpenglueck.example", "Mariahilfer Straße 47", "Wien", "", "1060", "Austria", BER, C::German, "+43 1 5871 ###", "+43 664 #######", 3),
    company!("Helvetia Präzision AG", "helvetia-praezision.example", "Bahnhofstrasse 21", "Zürich", "ZH", "8001", "Switzerland", BER, C::German, "+41 44 2110 ###", "+41 79 #######", 3),
    company!("Brightwater Ltd", "brightwater.example", "12 Finsbury Square", "London", "", "EC2A 1AS", "United Kingdom", None, C::English, "+44 20 7946 0###", "+44 7700 900###", 4),
    company!("Harbour & Finch LLP", "harbourfinch.example", "3 Grand Canal Quay", "Dublin", "", "D02 XY12", "Ireland", None, C::Irish, "+353 1 555 0###", "+353 85 555 ####", 3),
    company!("Café Olé S.L.", "cafeole.example", "Calle de Alcalá 77", "Madrid", "", "28009", "Spain", BER, C::Spanish, "+34 91 5550 ###", "+34 655 ######", 3),
    company!("Lumière Conseil SARL", "lumiere-conseil.example", "18 rue de Rivoli", "Paris", "", "75004", "France", BER, C::French, "+33 1 4455 ###", "+33 6 12 ######", 3),
    company!("Vistula Software sp. z o.o.", "vistula-soft.example", "ul. Floriańska 15", "Kraków", "", "31-019", "Poland", BER, C::Polish, "+48 12 4220 ###", "+48 601 ### ###", 3),
    company!("Noorderlicht B.V.", "noorderlicht.example", "Keizersgracht 221", "Amsterdam", "", "1016 DV", "Netherlands", BER, C::Dutch, "+31 20 6240 ###", "+31 6 12 ######", 3),
    company!("Boğaziçi Tekstil A.Ş.", "bogazici-tekstil.example", "Büyükdere Cd. 185", "İstanbul", "", "34394", "Türkiye", BER, C::Turkish, "+90 212 3550 ###", "+90 532 #######", 2),
    company!("Fjord Analytics AS", "fjord-analytics.example", "Dronning Eufemias gate 16", "Oslo", "", "0191", "Norway", BER, C::Norwegian, "+47 2240 ###", "+47 4 #######", 2),
    company!("Pinecrest Capital LLC", "pinecrest-capital.example", "350 Fifth Avenue, Suite 4100", "New York", "NY", "10118", "USA", NYC, C::English, "+1 212 555 01##", "+1 917 555 01##", 5),
    company!("Blue Ridge Medical Supply Inc.", "blueridge-medical.example", "400 South Tryon Street", "Charlotte", "NC", "28285", "USA", NYC, C::English, "+1 704 555 01##", "+1 980 555 01##", 3),
    company!("Harborview Foods Corp.", "harborview-foods.example", "1 Seaport Lane", "Boston", "MA", "02210", "USA", NYC, C::English, "+1 617 555 01##", "+1 857 555 01##", 3),
    company!("Maple Leaf Outfitters Ltd.", "mapleleaf-outfitters.example", "100 King Street West", "Toronto", "ON", "M5X 1A9", "Canada", NYC, C::English, "+1 416 555 01##", "+1 647 555 01##", 2),
    company!("Sakura Robotics K.K.", "sakura-robotics.example", "2-4-1 Shibakoen, Minato-ku", "Tokyo", "", "105-0011", "Japan", TYO, C::Japanese, "+81 3 5555 ####", "+81 90 5555 ####", 4),
    company!("Kumo Systems Co., Ltd.", "kumo-systems.example", "3-6-1 Umeda, Kita-ku", "Osaka", "", "530-0001", "Japan", TYO, C::Japanese, "+81 6 5555 ####", "+81 80 5555 ####", 3),
    company!("Shanghai Xingchen Trading Co., Ltd.", "xingchen-trading.example", "1000 Lujiazui Ring Road, Pudong", "Shanghai", "", "200120", "China", None, C::Chinese, "+86 21 5555 ###", "+86 138 5555 ####", 3),
];

/// A given or family name with its ASCII spelling for e-mail addresses.
type Name = (&'static str, &'static str);

#[rustfmt::skip]
fn pools(c: Culture) -> (&'static [Name], &'static [Name]) {
    match c {
        C::German => (
            &[("Anna", "anna"), ("Lukas", "lukas"), ("Sophie", "sophie"), ("Jonas", "jonas"), ("Marie", "marie"),
              ("Felix", "felix"), ("Lea", "lea"), ("Maximilian", "maximilian"), ("Hannah", "hannah"), ("Paul", "paul"),
              ("Katharina", "katharina"), ("Jürgen", "juergen"), ("Björn", "bjoern"), ("Sören", "soeren"), ("Anja", "anja"),
              ("Christoph", "christoph"), ("Birgit", "birgit")],
            &[("Müller", "mueller"), ("Schmidt", "schmidt"), ("Schneider", "schneider"), ("Fischer", "fischer"),
              ("Weber", "weber"), ("Meyer", "meyer"), ("Wagner", "wagner"), ("Becker", "becker"), ("Schulz", "schulz"),
              ("Köhler", "koehler"), ("Groß", "gross"), ("Weiß", "weiss"), ("Krüger", "krueger"), ("Schäfer", "schaefer"),
              ("Jäger", "jaeger"), ("von Bülow", "vonbuelow")],
        ),
        C::English => (
            &[("James", "james"), ("Emily", "emily"), ("Oliver", "oliver"), ("Charlotte", "charlotte"), ("Michael", "michael"),
              ("Sarah", "sarah"), ("Daniel", "daniel"), ("Grace", "grace"), ("Ethan", "ethan"), ("Olivia", "olivia"),
              ("Jessica", "jessica"), ("Marcus", "marcus"), ("Hannah", "hannah")],
            &[("Smith", "smith"), ("Johnson", "johnson"), ("Williams", "williams"), ("Brown", "brown"), ("Taylor", "taylor"),
              ("Davies", "davies"), ("Clarke", "clarke"), ("Thompson", "thompson"), ("Robinson", "robinson"),
              ("O'Neill", "oneill"), ("Carter-Jones", "carter-jones"), ("Nguyen", "nguyen"), ("Patel", "patel")],
        ),
        C::Irish => (
            &[("Siobhán", "siobhan"), ("Ciarán", "ciaran"), ("Aoife", "aoife"), ("Niamh", "niamh"), ("Seán", "sean"),
              ("Róisín", "roisin"), ("Eoin", "eoin")],
            &[("O'Brien", "obrien"), ("O'Connor", "oconnor"), ("Walsh", "walsh"), ("Murphy", "murphy"),
              ("McCarthy", "mccarthy"), ("Ó Súilleabháin", "osuilleabhain"), ("Byrne", "byrne")],
        ),
        C::Spanish => (
            &[("José", "jose"), ("María", "maria"), ("Lucía", "lucia"), ("Javier", "javier"), ("Carmen", "carmen"),
              ("Álvaro", "alvaro"), ("Inés", "ines"), ("Sergio", "sergio")],
            &[("Núñez", "nunez"), ("García", "garcia"), ("Fernández", "fernandez"), ("López", "lopez"),
              ("Martínez", "martinez"), ("Sánchez", "sanchez"), ("Gómez", "gomez"), ("Muñoz", "munoz")],
        ),
        C::French => (
            &[("Camille", "camille"), ("Louis", "louis"), ("Chloé", "chloe"), ("Hugo", "hugo"), ("Léa", "lea"),
              ("Théo", "theo"), ("Élodie", "elodie"), ("François", "francois")],
            &[("Dubois", "dubois"), ("Lefèvre", "lefevre"), ("Moreau", "moreau"), ("Laurent", "laurent"),
              ("Girard", "girard"), ("Rousseau", "rousseau"), ("Bonnet", "bonnet"), ("de la Fontaine", "delafontaine")],
        ),
        C::Polish => (
            &[("Agnieszka", "agnieszka"), ("Piotr", "piotr"), ("Katarzyna", "katarzyna"), ("Tomasz", "tomasz"),
              ("Małgorzata", "malgorzata"), ("Paweł", "pawel")],
            &[("Nowak", "nowak"), ("Wójcik", "wojcik"), ("Kowalczyk", "kowalczyk"), ("Mazur", "mazur"),
              ("Krawczyk", "krawczyk"), ("Dąbrowski", "dabrowski")],
        ),
        C::Dutch => (
            &[("Daan", "daan"), ("Sanne", "sanne"), ("Bram", "bram"), ("Femke", "femke"), ("Joost", "joost"), ("Lotte", "lotte")],
            &[("de Vries", "devries"), ("van Dijk", "vandijk"), ("Jansen", "jansen"), ("Bakker", "bakker"),
              ("van den Berg", "vandenberg"), ("Visser", "visser")],
        ),
        C::Turkish => (
            &[("Ayşe", "ayse"), ("Mehmet", "mehmet"), ("Elif", "elif"), ("Emre", "emre"), ("Zeynep", "zeynep"), ("Can", "can")],
            &[("Yılmaz", "yilmaz"), ("Kaya", "kaya"), ("Demir", "demir"), ("Şahin", "sahin"), ("Çelik", "celik"), ("Öztürk", "ozturk")],
        ),
        C::Norwegian => (
            &[("Ingrid", "ingrid"), ("Lars", "lars"), ("Solveig", "solveig"), ("Håkon", "hakon"), ("Kari", "kari"), ("Øystein", "oystein")],
            &[("Hansen", "hansen"), ("Johansen", "johansen"), ("Østby", "ostby"), ("Berg", "berg"), ("Larsen", "larsen"), ("Bjørnstad", "bjornstad")],
        ),
        C::Japanese => (
            &[("Yuki", "yuki"), ("Haruto", "haruto"), ("Sakura", "sakura"), ("Ren", "ren"), ("Aoi", "aoi"),
              ("Takashi", "takashi"), ("Keiko", "keiko"), ("Daisuke", "daisuke")],
            &[("Sato", "sato"), ("Suzuki", "suzuki"), ("Takahashi", "takahashi"), ("Tanaka", "tanaka"),
              ("Watanabe", "watanabe"), ("Ito", "ito"), ("Yamamoto", "yamamoto"), ("Nakamura", "nakamura")],
        ),
        C::Chinese => (
            &[("明", "ming"), ("芳", "fang"), ("伟", "wei"), ("娜", "na"), ("静", "jing"), ("磊", "lei"), ("晓燕", "xiaoyan"), ("建华", "jianhua")],
            &[("李", "li"), ("王", "wang"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"), ("赵", "zhao")],
        ),
    }
}

static TITLES: &[&str] = &[
    "Head of Procurement",
    "Sales Director",
    "Chief Executive Officer",
    "Chief Financial Officer",
    "IT Manager",
    "Operations Manager",
    "Purchasing Agent",
    "Managing Director",
    "VP Sales",
    "Office Manager",
    "Head of IT",
    "Project Manager",
    "Marketing Lead",
    "Key Account Manager",
    "Chief Technology Officer",
    "Assistant to the CEO",
    "Leiterin Einkauf",
    "Geschäftsführer",
    "Customer Success Manager",
    "Controller",
];

static DEPARTMENTS: &[&str] = &[
    "Sales",
    "Procurement",
    "IT",
    "Finance",
    "Operations",
    "Management",
    "Marketing",
];

pub(crate) static CATEGORIES: &[&str] = &[
    "Customer",
    "Prospect",
    "Partner",
    "Key Account",
    "Supplier",
    "Newsletter",
    "Decision maker",
    "VIP",
];

static NOTE_TEMPLATES: &[&str] = &[
    "Met at SaaS Expo Hamburg.\nInterested in: calendar sync, mobile access; budget approved for Q3.",
    "Prefers e-mail over phone; reply within 24h.\nDecision maker for licences, renewals and upgrades.",
    "Referral from {company}.\nAsked for a trial: 30 days, 10 seats.",
    "Champion for the rollout; knows the CFO personally.\nNext step: demo for the works council.",
    "Price sensitive; compares us with two competitors.\nSend case study (logistics, 500+ users).",
    "Onboarded last quarter.\nOpen points: SSO, data export; invoice address changed.",
    "Speaks {lang}; English is fine too.\nBest reached Tue–Thu, 9:00–12:00.",
];

/// The photos in the demo data: a real 24×24 JPEG and a real 24×24 PNG, base64-encoded.
pub(crate) const PHOTO_JPEG_B64: &str = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA0JCgsKCA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZGNywtQFdBRkxOUlNSMj5aYVpQYEpRUk//2wBDAQ4ODhMREyYVFSZPNS01T09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT0//wAARCAAYABgDASIAAhEBAxEB/8QAGAABAQEBAQAAAAAAAAAAAAAAAAYHAwT/xAAqEAABAwMDAgQHAAAAAAAAAAABAgMRAAQhEhNBFFEGFZGhFiIxNEOB8P/EABYBAQEBAAAAAAAAAAAAAAAAAAQFA//EAB0RAAICAgMBAAAAAAAAAAAAAAABAgMEIxExMhL/2gAMAwEAAhEDEQA/APA02t55DTY1LcUEpExJOBVX8Ht9D9yvq9P1/HPaImOJ/ccVMWSbhd6yLNJU/rBbAE5GZzWi7l95XubDXW7c7ev5dXaf7tPNUcicotfLA0wjJPlGbOtrZeW04NK21FKhMwRg0rpepuEXrwvElL+slwERk5nFKSujB9lV4Kt2xaP3US6pzbk8AAHHr7CqWlKmXvYx9XhE141t2zaMXUQ6lzbkcggnPp7mlKUzGesLf7P/2Q==";
pub(crate) const PHOTO_PNG_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAABgAAAAYAQMAAADaua+7AAAABlBMVEX669zIWjzSb33+AAAAPklEQVR42k3LsQmAQBQFwfE1LjZ2CFqIJVx4gdw3Eg02GdiliLdTNEqZ1s9RKjbqqGhMa6Y9tytDD9KN/xM8/ZYVB4ZJhEMAAAAASUVORK5CYII=";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Photo {
    Jpeg,
    Png,
}

/// Birthday: year (absent: only month and day are known, vCard 4.0 `--MMDD`), month, day.
pub(crate) type Birthday = (Option<i32>, u32, u32);

/// One contact of the demo tenant's address book.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub n: u32,
    pub prefix: &'static str,
    pub given: String,
    pub family: String,
    /// Formatted name (family name first for Chinese names).
    pub full: String,
    pub nickname: Option<&'static str>,
    pub company: &'static Company,
    pub title: &'static str,
    pub department: &'static str,
    pub email: String,
    pub home_email: Option<String>,
    pub assistant_email: Option<String>,
    pub cell: String,
    pub work_tel: String,
    pub home_adr: Option<[&'static str; 5]>,
    pub bday: Option<Birthday>,
    pub note: Option<String>,
    pub categories: Vec<&'static str>,
    pub v4: bool,
    /// iOS-style grouped properties (`item1.TEL` + `item1.X-ABLabel`, ...).
    pub ios_groups: bool,
    pub photo: Option<Photo>,
}

impl Person {
    pub(crate) fn uid(&self) -> String {
        format!("demo-card-{:04}@crmdav", self.n)
    }
}

/// A member of the demo tenant's own sales team (organizer or attendee of meetings).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Colleague {
    pub name: &'static str,
    pub email: &'static str,
}

pub(crate) const OWNER: Colleague = Colleague {
    name: "Lena Hoffmann",
    email: "lena.hoffmann@demo.crmdav.example",
};
pub(crate) static TEAM: &[Colleague] = &[
    Colleague {
        name: "Zoë Fischer",
        email: "zoe.fischer@demo.crmdav.example",
    },
    Colleague {
        name: "Tobias Krämer",
        email: "tobias.kraemer@demo.crmdav.example",
    },
    Colleague {
        name: "Priya Raman",
        email: "priya.raman@demo.crmdav.example",
    },
    Colleague {
        name: "Marco Rossi",
        email: "marco.rossi@demo.crmdav.example",
    },
    Colleague {
        name: "Aiko Mori",
        email: "aiko.mori@demo.crmdav.example",
    },
];

/// Number of contacts in the address book.
pub(crate) const CONTACT_COUNT: u32 = 240;

pub(crate) fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    // u32 sampling is portable across platforms (usize sampling is not).
    let len = u32::try_from(items.len()).unwrap_or(u32::MAX).max(1);
    let i = rng.gen_range(0..len) as usize;
    &items[i.min(items.len().saturating_sub(1))]
}

pub(crate) fn pick_company(rng: &mut StdRng) -> &'static Company {
    let total: u32 = COMPANIES.iter().map(|c| c.weight).sum();
    let mut x = rng.gen_range(0..total.max(1));
    for c in COMPANIES {
        if x < c.weight {
            return c;
        }
        x -= c.weight;
    }
    &COMPANIES[0]
}

pub(crate) fn company(name: &str) -> &'static Company {
    COMPANIES
        .iter()
        .find(|c| c.name == name)
        .unwrap_or(&COMPANIES[0])
}

fn fill(rng: &mut StdRng, template: &str) -> String {
    template
        .chars()
        .map(|c| {
            if c == '#' {
                char::from(b'0' + rng.gen_range(0..10u8))
            } else {
                c
            }
        })
        .collect()
}

fn lang(c: Culture) -> &'static str {
    match c {
        C::German => "German",
        C::English | C::Irish => "English",
        C::Spanish => "Spanish",
        C::French => "French",
        C::Polish => "Polish",
        C::Dutch => "Dutch",
        C::Turkish => "Turkish",
        C::Norwegian => "Norwegian",
        C::Japanese => "Japanese",
        C::Chinese => "Mandarin",
    }
}

#[allow(clippy::too_many_arguments)]
fn base(
    rng: &mut StdRng,
    n: u32,
    company: &'static Company,
    given: (&str, &str),
    family: (&str, &str),
    title: &'static str,
    v4: bool,
) -> Person {
    let (full, local) = if company.culture == C::Chinese && !given.0.is_ascii() {
        (
            format!("{}{}", family.0, given.0),
            format!("{}.{}", family.1, given.1),
        )
    } else {
        (
            format!("{} {}", given.0, family.0),
            format!("{}.{}", given.1, family.1),
        )
    };
    Person {
        n,
        prefix: "",
        given: given.0.to_string(),
        family: family.0.to_string(),
        full,
        nickname: None,
        company,
        title,
        department: pick::<&str>(rng, DEPARTMENTS),
        email: format!("{local}@{}", company.domain),
        home_email: None,
        assistant_email: None,
        cell: fill(rng, company.mobile),
        work_tel: fill(rng, company.tel),
        home_adr: None,
        bday: None,
        note: None,
        categories: vec!["Customer"],
        v4,
        ios_groups: false,
        photo: None,
    }
}

/// The hand-made contacts that carry the required edge cases (numbers 1..=8).
fn specials(rng: &mut StdRng) -> Vec<Person> {
    let mut v = Vec::new();

    let mut p = base(
        rng,
        1,
        company("Acme GmbH"),
        ("Zoë", "zoe"),
        ("Ümlaut", "uemlaut"),
        "Head of Procurement",
        false,
    );
    p.photo = Some(Photo::Jpeg);
    p.ios_groups = true;
    p.assistant_email = Some("assistant.procurement@acme-gmbh.example".into());
    p.home_email = Some("zoe.uemlaut@posteo.example".into());
    p.home_adr = Some(["Kastanienallee 12", "Berlin", "", "10435", "Germany"]);
    p.bday = Some((Some(1986), 4, 12));
    p.nickname = Some("Zoë");
    p.categories = vec!["Customer", "Key Account", "Decision maker"];
    p.note = Some("Key contact for the 2025 framework agreement.\nLikes: oat flat white, short agendas; dislikes cold calls.".into());
    v.push(p);

    let mut p = base(
        rng,
        2,
        company("Shanghai Xingchen Trading Co., Ltd."),
        ("明", "ming"),
        ("李", "li"),
        "Sales Director",
        true,
    );
    p.photo = Some(Photo::Png);
    p.bday = Some((None, 8, 8));
    p.categories = vec!["Partner", "VIP"];
    p.note =
        Some("Prefers WeChat; speaks Mandarin, English.\nChinese name: 李明 (Li Ming).".into());
    v.push(p);

    let mut p = base(
        rng,
        3,
        company("Café Olé S.L."),
        ("José", "jose"),
        ("Núñez", "nunez"),
        "Managing Director",
        false,
    );
    p.bday = Some((Some(1979), 11, 23));
    p.categories = vec!["Customer"];
    p.note = Some("Runs 14 cafés in Madrid, Sevilla and Valencia.\nPays by SEPA; invoices in Spanish, please.".into());
    v.push(p);

    let mut p = base(
        rng,
        4,
        company("Harbour & Finch LLP"),
        ("Siobhán", "siobhan"),
        ("O'Brien", "obrien"),
        "Chief Financial Officer",
        true,
    );
    p.categories = vec!["Prospect", "Decision maker"];
    p.note = Some("Met at Web Summit; interested in the \"Enterprise\" plan.\nFollow up after Q3 board meeting.".into());
    v.push(p);

    let mut p = base(
        rng,
        5,
        company("Müller & Söhne KG"),
        ("Anna", "anna"),
        ("Müller", "mueller"),
        "Geschäftsführerin",
        false,
    );
    p.prefix = "Dr.";
    p.full = "Dr. Anna Müller".into();
    p.ios_groups = true;
    p.assistant_email = Some("sekretariat@mueller-soehne.example".into());
    p.categories = vec!["Customer", "VIP"];
    p.note = Some("Shared drive: \\\\fs01\\vertrieb\\Müller; quotes in EUR, net 30.\nCall before 10:00, never on Fridays; prefers \"Frau Dr. Müller\".".into());
    v.push(p);

    let mut p = base(
        rng,
        6,
        company("Nordwind Logistik AG"),
        ("Jürgen", "juergen"),
        ("Groß", "gross"),
        "IT Manager",
        true,
    );
    p.bday = Some((Some(1971), 2, 28));
    p.categories = vec!["Customer", "Key Account"];
    v.push(p);

    let mut p = base(
        rng,
        7,
        company("Sakura Robotics K.K."),
        ("Yuki", "yuki"),
        ("Tanaka", "tanaka"),
        "VP Sales",
        true,
    );
    p.categories = vec!["Partner"];
    p.note = Some("Bows before business cards; bring two-sided cards (EN/JP).\nTime zone: JST (UTC+9), no DST.".into());
    v.push(p);

    let mut p = base(
        rng,
        8,
        company("Pinecrest Capital LLC"),
        ("Michael", "michael"),
        ("Johnson", "johnson"),
        "Chief Technology Officer",
        false,
    );
    p.ios_groups = true;
    p.assistant_email = Some("exec.office@pinecrest-capital.example".into());
    p.categories = vec!["Prospect"];
    v.push(p);

    v
}

/// The demo address book: deterministic, `CONTACT_COUNT` people.
pub(crate) fn directory() -> Vec<Person> {
    let mut rng = StdRng::seed_from_u64(0x0C0D_CA2D);
    let mut people = specials(&mut rng);
    let mut used: Vec<String> = people.iter().map(|p| p.email.clone()).collect();
    let first_generated = people.len() as u32 + 1;
    for n in first_generated..=CONTACT_COUNT {
        let company = pick_company(&mut rng);
        let (givens, families) = pools(company.culture);
        let given = *pick(&mut rng, givens);
        let family = *pick(&mut rng, families);
        let title = *pick(&mut rng, TITLES);
        // 40 % vCard 4.0, 60 % vCard 3.0.
        let v4 = n % 5 < 2;
        let mut p = base(&mut rng, n, company, given, family, title, v4);
        // Two people with the same name at one company: jane.doe2@, jane.doe3@, ...
        let mut email = p.email.clone();
        let mut k = 2;
        while used.contains(&email) {
            let (local, domain) = p
                .email
                .split_once('@')
                .unwrap_or((&p.email, company.domain));
            email = format!("{local}{k}@{domain}");
            k += 1;
        }
        p.email = email.clone();
        used.push(email);

        if rng.gen_ratio(1, 3) {
            p.bday = Some((
                if v4 && rng.gen_ratio(1, 4) {
                    None
                } else {
                    Some(rng.gen_range(1958..2000))
                },
                rng.gen_range(1..=12),
                rng.gen_range(1..=28),
            ));
        }
        if rng.gen_ratio(1, 5) {
            p.home_email = Some(format!(
                "{}.{}{}@mail.example",
                given.1,
                family.1,
                rng.gen_range(1..100)
            ));
        }
        if rng.gen_ratio(3, 5) {
            let t = *pick(&mut rng, NOTE_TEMPLATES);
            p.note = Some(
                t.replace("{company}", pick_company(&mut rng).name)
                    .replace("{lang}", lang(company.culture)),
            );
        }
        let mut cats = vec![*pick(&mut rng, &CATEGORIES[..3])];
        if rng.gen_ratio(1, 3) {
            let extra = *pick(&mut rng, &CATEGORIES[3..]);
            cats.push(extra);
        }
        p.categories = cats;
        if !v4 && rng.gen_ratio(1, 6) {
            p.ios_groups = true;
            if rng.gen_bool(0.5) {
                p.assistant_email = Some(format!("assistant@{}", company.domain));
            }
        }
        people.push(p);
    }
    people
}
