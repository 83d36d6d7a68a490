"""Seed a sandbox site with a deterministic demo CMDB, optionally scaled to N objects for benchmarks."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_assets.sandbox.records import (
    ATTR_GROUP,
    ATTR_REFERENCE,
    ATTR_STATUS,
    ATTR_USER,
    DEFAULT_BOOLEAN,
    DEFAULT_DATE,
    DEFAULT_DATETIME,
    DEFAULT_DOUBLE,
    DEFAULT_EMAIL,
    DEFAULT_INTEGER,
    DEFAULT_IP,
    DEFAULT_SELECT,
    DEFAULT_TEXT,
    DEFAULT_TEXTAREA,
    DEFAULT_TIME,
    DEFAULT_URL,
)

if TYPE_CHECKING:
    from airflow_assets.sandbox.model import Site

BASE_TIME = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
RANDOM_SEED = 20250106
DEMO_OBJECTS = 300
MIN_OBJECTS = 150

# How many objects the bounded extras touch per kind of edit, whatever the scale: history, comments and
# tickets stay realistic in the demo and cheap at 50,000 objects.
EDITS_PER_KIND = 12
COMMENTED_PER_TYPE = 15
TICKETED_PER_TYPE = 10
EXTRA_CYCLES = 4

# Share of the scalable ("bulk") objects per type; the rest of the demo (countries, cities, offices,
# departments) has a fixed size.
BULK_SHARES = {"Person": 0.36, "Contractor": 0.06, "Server": 0.12, "Application": 0.10, "Laptop": 0.36}

# The attribute kinds the demo's definitions name, as the ids of records.py.
_DEFAULT_TYPE_IDS = {
    "text": DEFAULT_TEXT, "integer": DEFAULT_INTEGER, "boolean": DEFAULT_BOOLEAN, "double": DEFAULT_DOUBLE,
    "date": DEFAULT_DATE, "time": DEFAULT_TIME, "datetime": DEFAULT_DATETIME, "url": DEFAULT_URL,
    "email": DEFAULT_EMAIL, "textarea": DEFAULT_TEXTAREA, "select": DEFAULT_SELECT, "ip": DEFAULT_IP,
}  # fmt: skip
_ATTRIBUTE_TYPE_CODES = {
    "reference": ATTR_REFERENCE, "user": ATTR_USER, "group": ATTR_GROUP, "status": ATTR_STATUS,
}  # fmt: skip

_FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger", "Radia",
    "Tim", "Hedy", "Donald", "Katherine", "Guido", "Sophie", "Niklaus", "Joan", "Bjarne", "Anita", "John",
    "Mary", "Claude", "Rosalind", "Vint", "Shafi", "Yukihiro", "Lynn", "Leslie"
)  # fmt: skip
_LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen",
    "Dijkstra", "Perlman", "Lee", "Lamarr", "Knuth", "Johnson", "Rossum", "Wilson", "Wirth", "Clarke",
    "Stroustrup", "Borg", "McCarthy", "Keller", "Shannon", "Franklin", "Cerf", "Goldwasser", "Matsumoto",
    "Conway", "Lamport"
)  # fmt: skip
_TEAMS = ("it-ops", "hr", "finance", "engineering", "service-desk-agents")
_GROUPS = ("jira-admins", "jira-users", *_TEAMS)
_COUNTRIES = (
    ("Australia", "AU", (("Sydney", "SYD"), ("Melbourne", "MEL"))),
    ("Germany", "DE", (("Frankfurt am Main", "FRA"), ("Berlin", "BER"))),
    ("United States", "US", (("New York", "NYC"), ("San Francisco", "SFO"))),
    ("Japan", "JP", (("Tokyo", "TYO"), ("Osaka", "OSA"))),
    ("Brazil", "BR", (("São Paulo", "SAO"), ("Rio de Janeiro", "RIO"))),
    ("United Kingdom", "GB", (("London", "LON"), ("St. Albans", "STA"))),
)
_OFFICES_PER_CITY = (2, 1, 2, 1, 2, 1, 1, 1, 2, 1, 1, 1)
_DEPARTMENTS = ("Executive", "IT Operations", "Human Resources", "Finance", "Engineering", "Sales",
                "Customer Support", "Legal")  # fmt: skip
_SERVER_ROLES = ("web", "db", "app", "cache", "mq", "build", "mail")
_DATA_CENTRES = ("syd", "fra", "iad")
_OPERATING_SYSTEMS = ("Ubuntu 22.04", "Ubuntu 24.04", "RHEL 9.4", "Debian 12", "Windows Server 2022")
_LAPTOP_MODELS = ("ThinkPad X1 Carbon Gen 11", "MacBook Pro 14", "Dell Latitude 7440", "HP EliteBook 840 G10")
_APPLICATIONS = ("Payroll", "Confluence", "Jenkins", "Grafana", "PostgreSQL", "Keycloak", "GitLab", "Nginx",
                 "SAP ERP", "Salesforce Connector", "Vault", "Kafka")  # fmt: skip
_COMMENTS = (
    "Checked on site, all fine.",
    "Warranty extended until {year}.",
    "Asked {name} to confirm the location.",
    "Ticket raised with the vendor; waiting for parts.",
    "Audit {year}: record verified.",
    "Moved to the new rack during the {year} refresh.",
)
_TICKET_TYPES = (
    ("Incident", "High"),
    ("Service Request", "Medium"),
    ("Change", "Low"),
    ("Problem", "Highest"),
)
_TICKET_STATUSES = (("Open", "blue-gray"), ("In Progress", "yellow"), ("Resolved", "green"))

Value = str | Sequence[str] | None


class SeededObject(NamedTuple):
    """An object the seed created: enough to refer to it, edit it and report it."""

    id: str
    key: str
    label: str


@dataclass(frozen=True)
class SeedSummary:
    """What the seed built: counts per schema and type, and handy keys for tests and demos."""

    schema_ids: dict[str, str]  # schema key -> schema id
    object_counts: dict[str, int]  # schema key -> live objects
    type_counts: dict[str, int]  # object type name -> live objects
    type_ids: dict[str, str]  # object type name -> object type id
    total_objects: int
    users: tuple[str, ...]  # account ids
    groups: tuple[str, ...]
    updates: int
    comments: int
    tickets: int
    person_with_manager: str  # key of a Person whose Manager is another Person
    cycle_keys: tuple[str, ...]  # Server keys A, B, C with A -> C -> B -> A through "Depends on"
    edited_key: str  # key of a Laptop with several kinds of history entries
    commented_key: str
    ticketed_key: str
    deleted_keys: tuple[str, ...]


def seed_demo(site: Site, *, objects: int | None = None) -> SeedSummary:
    """Fill ``site`` with the demo CMDB: People, Locations and IT assets, with history, comments and tickets.

    :param site: an empty sandbox site.
    :param objects: scale the bulk types so the site holds this many objects (default: the demo size).
    """
    total = DEMO_OBJECTS if objects is None else objects
    if total < MIN_OBJECTS:
        raise ValueError(f"objects must be at least {MIN_OBJECTS}, got {total}")
    return _Seeder(site, total).run()


def seed_directory(site: Site) -> None:
    """Give ``site`` only the demo's Jira users and groups (the same account ids: they are global on Cloud).

    A second Cloud site of the same organisation knows the same people but holds no Assets of its own:
    the target of a migration.
    """
    _Seeder(site, DEMO_OBJECTS).directory()


def _spread(items: Sequence[Any], count: int, offset: int = 0) -> list[Any]:
    """Pick up to ``count`` items spread evenly over ``items``, starting ``offset`` into each stride."""
    if not items or count <= 0:
        return []
    step = max(1, len(items) // count)
    return [items[i] for i in range(offset % step, len(items), step)][:count]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Seeder:
    """One seeding run: the site, a seeded random generator and a simulated clock."""

    def __init__(self, site: Site, total: int) -> None:
        self.site = site
        self.total = total
        self.random = random.Random(RANDOM_SEED)
        self.now = BASE_TIME
        self.schema_ids: dict[str, str] = {}
        self.schema_of_type: dict[str, str] = {}
        self.type_ids: dict[str, str] = {}
        self.attribute_ids: dict[str, dict[str, str]] = {}
        self.status_ids: dict[str, str] = {}
        self.reference_type_ids: dict[str, str] = {}
        self.icon_ids: dict[str, str] = {}
        self.users: list[str] = []
        self.user_names: list[str] = []
        self.objects: dict[str, list[SeededObject]] = {}
        self.deleted: list[SeededObject] = []
        self.created = 0
        self.updates = 0
        # Comments and tickets per object id, so that deleting an object also drops them from the counts.
        self.comments: Counter[str] = Counter()
        self.tickets: Counter[str] = Counter()

    def tick(self, minutes: int = 1) -> datetime:
        """Advance the simulated clock and return the new time."""
        self.now += timedelta(minutes=minutes)
        return self.now

    def run(self) -> SeedSummary:
        self.directory()
        self.schemas()
        self.object_types()
        counts = self.bulk_counts()
        self.locations()
        self.departments()
        self.people(counts["Person"], counts["Contractor"])
        self.servers(counts["Server"])
        self.applications(counts["Application"])
        self.laptops(counts["Laptop"])
        self.close_cycles()
        self.edit_people()
        self.edit_hardware()
        self.edit_applications()
        self.add_comments()
        self.add_tickets()
        self.delete_some()
        return self.summary()

    # --- configuration -------------------------------------------------------------------------

    def directory(self) -> None:
        """Add the Jira users and groups that User and Group attributes refer to."""
        for group in _GROUPS:
            self.site.add_group(group)
        names = self.random.sample(
            [f"{first} {last}" for first in _FIRST_NAMES[:12] for last in _LAST_NAMES[:12]], 12
        )
        for index, name in enumerate(names):
            # Atlassian account ids come in two shapes: 24 hex digits, and "557058:<uuid>" for older accounts.
            if index % 5 == 4:
                hexits = "".join(self.random.choices("0123456789abcdef", k=32))
                parts = (hexits[:8], hexits[8:12], hexits[12:16], hexits[16:20], hexits[20:])
                account_id = "557058:" + "-".join(parts)
            else:
                account_id = "5b10" + "".join(self.random.choices("0123456789abcdef", k=20))
            self.site.add_user(account_id, name, name.lower().replace(" ", ".") + "@example.com")
            self.users.append(account_id)
            self.user_names.append(name)

    def schemas(self) -> None:
        """Create the three schemas, their status types and reference types."""
        for name, key, description in (
            ("People", "PEOPLE", "Employees, contractors and departments"),
            ("Locations", "LOC", "Countries, cities and offices"),
            ("IT Assets", "ITAM", "Hardware and the applications running on it"),
        ):
            schema = self.site.create_schema(
                {"name": name, "objectSchemaKey": key, "description": description}, at=self.tick()
            )
            self.schema_ids[key] = schema["id"]
        # IT assets point at people and offices in the other schemas.
        self.site.set_schema_properties(
            self.schema_ids["ITAM"],
            {"allowOtherObjectSchema": True, "validateQuickCreate": False, "quickCreateObjects": False},
        )
        for name, category, schema_key in (
            ("Active", 1, None), ("Ordered", 2, None), ("Retired", 0, None),
            ("In repair", 2, "ITAM"), ("Lost", 0, "ITAM"),
        ):  # fmt: skip
            self.status_ids[name] = self.config_id(
                self.site.list_status_types(self.schema_ids.get(schema_key or "")),
                self.site.create_status_type,
                {"name": name, "category": category, "description": f"{name} assets"},
                schema_key,
            )
        for name, color, schema_key in (
            ("Depends on", "f79232", None), ("Installed", "49a6ed", None),
            ("Located in", "8eb021", None), ("Reports to", "654982", "PEOPLE"),
            ("Member of", "3b7fc4", "PEOPLE"), ("Owned by", "d04437", "ITAM"), ("Sponsor", "3b7fc4", None),
        ):  # fmt: skip
            self.reference_type_ids[name] = self.config_id(
                self.site.list_reference_types(self.schema_ids.get(schema_key or ""), include_all=True),
                self.site.create_reference_type,
                {"name": name, "description": f"{name} relation", "color": color},
                schema_key,
            )
        self.icon_ids = {icon["name"]: icon["id"] for icon in self.site.list_icons()}

    def config_id(
        self,
        existing: list[dict[str, Any]],
        create: Callable[[dict[str, Any]], dict[str, Any]],
        body: dict[str, Any],
        schema_key: str | None,
    ) -> str:
        """Reuse a global status or reference type of that name (every site has a few), else create one."""
        for entry in existing:
            if entry["name"] == body["name"] and (schema_key or "objectSchemaId" not in entry):
                return str(entry["id"])
        if schema_key:
            body["objectSchemaId"] = self.schema_ids[schema_key]
        return str(create(body)["id"])

    def object_type(
        self, schema_key: str, name: str, icon: str, *, parent: str | None = None, abstract: bool = False
    ) -> None:
        """Create an object type; abstract types pass their attributes on to their children."""
        body: dict[str, Any] = {
            "name": name,
            "iconId": self.icon_ids.get(icon, next(iter(self.icon_ids.values()))),
            "objectSchemaId": self.schema_ids[schema_key],
            "description": f"{name} records",
            "inherited": abstract,
            "abstractObjectType": abstract,
        }
        if parent:
            body["parentObjectTypeId"] = self.type_ids[parent]
        created = self.site.create_object_type(body, at=self.tick())
        self.type_ids[name] = created["id"]
        self.schema_of_type[name] = schema_key

    def attribute(
        self,
        type_name: str,
        name: str,
        kind: str,
        *,
        target: str | None = None,
        reference: str = "",
        options: Sequence[str] = (),
        allowed: Sequence[str] = (),
        multi: bool = False,
        unique: bool = False,
        children: bool = False,
    ) -> None:
        """Create one attribute; ``kind`` is a default type name or reference/user/group/status."""
        body: dict[str, Any] = {
            "name": name,
            "description": f"{name} of the {type_name.lower()}",
            "minimumCardinality": 0,
            "maximumCardinality": -1 if multi else 1,
            "uniqueAttribute": unique,
        }
        if kind in _DEFAULT_TYPE_IDS:
            body |= {"type": 0, "defaultTypeId": _DEFAULT_TYPE_IDS[kind]}
            if options:
                body["options"] = ",".join(options)
        else:
            body["type"] = _ATTRIBUTE_TYPE_CODES[kind]
            if kind == "reference":
                assert target is not None
                body |= {
                    "typeValue": self.type_ids[target],
                    "additionalValue": self.reference_type_ids[reference],
                    "includeChildObjectTypes": children,
                }
            if allowed:
                body["typeValueMulti"] = list(allowed)
        self.site.create_attribute(self.type_ids[type_name], body)

    def object_types(self) -> None:
        """Define the types and attributes of the three schemas, then learn every attribute id."""
        add, ref = self.object_type, self.attribute
        add("LOC", "Country", "Globe")
        ref("Country", "ISO code", "text", unique=True)
        add("LOC", "City", "City")
        ref("City", "Country", "reference", target="Country", reference="Located in")
        ref("City", "Population", "integer")
        add("LOC", "Office", "Building")
        ref("Office", "City", "reference", target="City", reference="Located in")
        ref("Office", "Opening time", "time")
        ref("Office", "Website", "url")
        ref("Office", "Address", "textarea")

        add("PEOPLE", "Party", "User", abstract=True)
        ref("Party", "Email", "email")
        ref("Party", "Phone", "text")
        add("PEOPLE", "Department", "Team")
        ref("Department", "Cost centre", "text", unique=True)
        add("PEOPLE", "Person", "User", parent="Party")
        ref("Person", "Employee number", "integer", unique=True)
        ref("Person", "Start date", "date")
        ref("Person", "Last login", "datetime")
        ref("Person", "Active", "boolean")
        ref("Person", "Manager", "reference", target="Person", reference="Reports to")
        ref("Person", "Account", "user")
        ref("Person", "Team", "group")
        ref("Person", "Department", "reference", target="Department", reference="Member of")
        ref("Department", "Head", "reference", target="Person", reference="Reports to")
        add("PEOPLE", "Contractor", "User", parent="Party")
        ref("Contractor", "Company", "text")
        ref("Contractor", "Contract end", "date")
        ref("Contractor", "Sponsor", "reference", target="Person", reference="Sponsor")

        statuses = list(self.status_ids.values())
        add("ITAM", "Hardware", "Hardware", abstract=True)
        ref("Hardware", "Serial number", "text", unique=True)
        ref("Hardware", "Purchase date", "date")
        ref("Hardware", "Cost", "double")
        ref("Hardware", "Status", "status", allowed=statuses)
        ref("Hardware", "Owner", "reference", target="Person", reference="Owned by")
        ref("Hardware", "Location", "reference", target="Office", reference="Located in")
        add("ITAM", "Laptop", "Laptop", parent="Hardware")
        ref("Laptop", "Model", "select", options=_LAPTOP_MODELS)
        ref("Laptop", "Memory GB", "integer")
        ref("Laptop", "Encrypted", "boolean")
        add("ITAM", "Server", "Server", parent="Hardware")
        add("ITAM", "Application", "Application")
        ref("Server", "IP address", "ip")
        ref("Server", "OS", "select", options=_OPERATING_SYSTEMS)
        ref("Server", "Last patched", "datetime")
        ref("Server", "Depends on", "reference", target="Server", reference="Depends on", multi=True)
        ref("Server", "Runs", "reference", target="Application", reference="Installed", multi=True)
        ref("Application", "Version", "text")
        ref("Application", "Homepage", "url")
        ref("Application", "Notes", "textarea")
        ref("Application", "Runs on", "reference", target="Server", reference="Installed")
        ref("Application", "Business owner", "reference", target="Party", reference="Owned by", children=True)
        ref("Application", "Support group", "group")
        for type_name, type_id in self.type_ids.items():
            self.attribute_ids[type_name] = {
                attribute["name"]: attribute["id"] for attribute in self.site.list_attributes(type_id)
            }

    def bulk_counts(self) -> dict[str, int]:
        """Split the objects left after the fixed-size types over the bulk types."""
        cities = sum(len(cities) for _, _, cities in _COUNTRIES)
        fixed = len(_COUNTRIES) + cities + sum(_OFFICES_PER_CITY) + len(_DEPARTMENTS)
        # Two laptops are deleted at the end: create them on top of the requested total.
        bulk = self.total - fixed + 2
        counts = {name: int(bulk * share) for name, share in BULK_SHARES.items()}
        counts["Laptop"] += bulk - sum(counts.values())
        return counts

    # --- objects -------------------------------------------------------------------------------

    def body(self, type_name: str, values: dict[str, Value], *, clear: bool = False) -> dict[str, Any]:
        """Build an ObjectIn body; ``None`` values are left out, or cleared when ``clear``."""
        ids = self.attribute_ids[type_name]
        attributes = []
        for name, value in values.items():
            if value is None and not clear:
                continue
            items = [] if value is None else [value] if isinstance(value, str) else value
            attributes.append(
                {"objectTypeAttributeId": ids[name], "objectAttributeValues": [{"value": v} for v in items]}
            )
        return {"objectTypeId": self.type_ids[type_name], "attributes": attributes}

    def create(self, type_name: str, values: dict[str, Value]) -> SeededObject:
        """Create an object as one of the three admins, one simulated minute after the last write."""
        created = self.site.create_object(
            self.body(type_name, values), actor=self.users[self.created % 3], at=self.tick()
        )
        self.created += 1
        seeded = SeededObject(created["id"], created["objectKey"], created["label"])
        self.objects.setdefault(type_name, []).append(seeded)
        return seeded

    def update(self, type_name: str, target: SeededObject, values: dict[str, Value]) -> None:
        """Edit an object some minutes or hours later, as one of the first six users."""
        self.updates += 1
        self.site.update_object(
            target.id,
            self.body(type_name, values, clear=True),
            actor=self.users[self.updates % 6],
            at=self.tick(self.random.randint(5, 600)),
        )

    def day(self, offset: int) -> str:
        """Return the date ``offset`` days after the base date (negative: before it)."""
        return (BASE_TIME.date() + timedelta(days=offset)).isoformat()

    def locations(self) -> None:
        offices_per_city = iter(_OFFICES_PER_CITY)
        for country_name, iso_code, cities in _COUNTRIES:
            country = self.create("Country", {"Name": country_name, "ISO code": iso_code})
            for city_name, code in cities:
                city = self.create(
                    "City",
                    {
                        "Name": city_name,
                        "Country": country.key,
                        "Population": str(self.random.randint(1, 40) * 10**5),
                    },
                )
                for number in range(1, next(offices_per_city) + 1):
                    label = f"{code}-{number}"
                    opening = f"{self.random.choice((7, 8, 9)):02d}:{self.random.choice((0, 30)):02d}"
                    self.create(
                        "Office",
                        {
                            "Name": label,
                            "City": city.key,
                            "Opening time": opening,
                            "Website": f"https://www.example.com/offices/{label.lower()}",
                            "Address": f"Level {number + 2}\n{number * 17} Main Street\n{city_name}",
                        },
                    )

    def departments(self) -> None:
        for index, name in enumerate(_DEPARTMENTS):
            self.create("Department", {"Name": name, "Cost centre": f"CC-{4100 + index * 10}"})

    def people(self, persons: int, contractors: int) -> None:
        """Create people; the first dozen are the Jira users, some of whose accounts are linked later."""
        emails: set[str] = set()

        def email_of(name: str) -> str:
            email = name.lower().replace(" ", ".") + "@example.com"
            if email in emails:
                email = email.replace("@", f".{len(emails)}@")
            emails.add(email)
            return email

        people: list[SeededObject] = []
        departments = self.objects["Department"]
        for index in range(persons):
            name = self.user_names[index] if index < len(self.users) else self.full_name()
            # Person 0 heads the company; everyone else reports to someone created earlier.
            manager = people[self.random.randrange(max(1, index // 3))].key if index else None
            seen = self.random.random() < 0.7
            people.append(
                self.create(
                    "Person",
                    {
                        "Name": name,
                        "Email": email_of(name),
                        "Phone": f"+61 2 {self.random.randint(1000, 9999)} {self.random.randint(1000, 9999)}",
                        "Employee number": str(10001 + index),
                        "Start date": self.day(-self.random.randint(30, 3650)),
                        "Last login": _iso(BASE_TIME - timedelta(minutes=self.random.randint(60, 90000)))
                        if seen
                        else None,
                        "Active": "false" if self.random.random() < 0.1 else "true",
                        "Manager": manager,
                        "Account": self.users[index] if index < 8 else None,
                        "Team": self.random.choice(_TEAMS) if index % 3 else None,
                        "Department": departments[index % len(departments)].key,
                    },
                )
            )
        for index in range(contractors):
            name = self.full_name()
            self.create(
                "Contractor",
                {
                    "Name": name,
                    "Email": email_of(name),
                    "Company": self.random.choice(("Acme Consulting", "Globex", "Initech", "Umbrella Ltd.")),
                    "Contract end": self.day(self.random.randint(30, 700)),
                    "Sponsor": people[index % len(people)].key,
                },
            )

    def full_name(self) -> str:
        return f"{self.random.choice(_FIRST_NAMES)} {self.random.choice(_LAST_NAMES)}"

    def hardware_values(self, prefix: str, index: int) -> dict[str, Value]:
        """Values of the attributes every Hardware type inherits."""
        people, offices = self.objects["Person"], self.objects["Office"]
        status = "Active" if index % 10 else self.random.choice(("Ordered", "Retired", "In repair"))
        return {
            "Serial number": f"{prefix}{index:06d}{self.random.choice('ABCDEFGHJK')}",
            "Purchase date": self.day(-self.random.randint(1, 1800)),
            "Cost": f"{self.random.randint(400, 9000)}.{self.random.randint(0, 99):02d}",
            "Status": self.status_ids[status],
            "Owner": people[self.random.randrange(len(people))].key,
            "Location": offices[self.random.randrange(len(offices))].key,
        }

    def servers(self, count: int) -> None:
        """Create servers; each may depend on servers created before it (cycles are closed later)."""
        servers: list[SeededObject] = []
        for index in range(count):
            role = _SERVER_ROLES[index % len(_SERVER_ROLES)]
            host = f"{role}-{index // len(_SERVER_ROLES) + 1:02d}.{_DATA_CENTRES[index % 3]}.example.com"
            if index in (1, 2):
                depends = [servers[index - 1].key]
            else:
                # A few recent servers, so sampling stays cheap at any scale.
                recent = servers[max(0, index - 20) : index]
                depends = [
                    server.key
                    for server in self.random.sample(recent, min(len(recent), self.random.randint(0, 2)))
                ]
            servers.append(
                self.create(
                    "Server",
                    {
                        "Name": host,
                        **self.hardware_values("SRV", index),
                        "IP address": f"10.{index // 65025 % 255}.{index // 255 % 255}.{index % 255 + 1}",
                        "OS": self.random.choice(_OPERATING_SYSTEMS),
                        "Last patched": _iso(BASE_TIME - timedelta(hours=self.random.randint(1, 2000))),
                        "Depends on": depends or None,
                    },
                )
            )

    def applications(self, count: int) -> None:
        servers, people = self.objects["Server"], self.objects["Person"]
        contractors = self.objects.get("Contractor", [])
        for index in range(count):
            product = _APPLICATIONS[index % len(_APPLICATIONS)]
            version = f"{self.random.randint(1, 12)}.{self.random.randint(0, 9)}.{self.random.randint(0, 20)}"
            environment = ("prod", "staging", "test")[index // len(_APPLICATIONS) % 3]
            owners = contractors if index % 4 == 3 and contractors else people
            self.create(
                "Application",
                {
                    "Name": f"{product} {version} ({environment})",
                    "Version": version,
                    "Homepage": f"https://{product.lower().replace(' ', '-')}.example.com/{environment}",
                    "Notes": f"{product} for {environment}.\nRelease notes: {version}" if index % 2 else None,
                    "Runs on": servers[index // 2 % len(servers)].key,
                    "Business owner": owners[self.random.randrange(len(owners))].key,
                    "Support group": self.random.choice(_TEAMS),
                },
            )

    def laptops(self, count: int) -> None:
        for index in range(count):
            self.create(
                "Laptop",
                {
                    "Name": f"LT-{index + 1:05d}",
                    **self.hardware_values("LT", index),
                    "Model": self.random.choice(_LAPTOP_MODELS),
                    "Memory GB": str(self.random.choice((8, 16, 32, 64))),
                    "Encrypted": None if index % 7 == 0 else "true",
                },
            )

    # --- simulated edits ------------------------------------------------------------------------

    def close_cycles(self) -> None:
        """Close Depends-on cycles between servers and let servers list the applications they run."""
        servers, applications = self.objects["Server"], self.objects["Application"]
        first, _, third = servers[:3]
        self.update("Server", first, {"Depends on": [third.key]})
        # A few rings of four: each server depends on the next one and on the server before the ring.
        for start in range(3, min(len(servers) - 3, 3 + 4 * EXTRA_CYCLES), 4):
            ring = servers[start : start + 4]
            for position, server in enumerate(ring):
                following = ring[(position + 1) % len(ring)]
                self.update("Server", server, {"Depends on": [following.key, servers[start - 1].key]})
        runs: dict[int, list[str]] = {}
        for index, application in enumerate(applications):
            runs.setdefault(index // 2 % len(servers), []).append(application.key)
        for position in sorted(runs)[: EDITS_PER_KIND * 4]:
            self.update("Server", servers[position], {"Runs": runs[position]})

    def edit_people(self) -> None:
        people, departments = self.objects["Person"], self.objects["Department"]
        for index, department in enumerate(departments):
            self.update("Department", department, {"Head": people[index * 3 % len(people)].key})
        for person in _spread(people[12:], EDITS_PER_KIND):
            self.update("Person", person, {"Last login": _iso(self.now)})
        for person in _spread(people[12:], EDITS_PER_KIND, offset=1):
            self.update("Person", person, {"Active": "false", "Team": None})
        for person in _spread(people[12:], EDITS_PER_KIND, offset=2):
            self.update("Person", person, {"Manager": people[1].key, "Phone": None, "Team": "hr"})
        # Accounts of the first dozen people: linked late, switched, unlinked.
        for index in (8, 9, 10):
            self.update("Person", people[index], {"Account": self.users[index]})
        self.update("Person", people[5], {"Account": self.users[11]})
        self.update("Person", people[6], {"Account": None})
        self.update("Person", people[3], {"Team": "finance"})

    def edit_hardware(self) -> None:
        laptops, people, offices = self.objects["Laptop"], self.objects["Person"], self.objects["Office"]
        # Laptop 1 gets a bit of everything so tests have one object with a rich history.
        edited = laptops[1]
        changes: list[dict[str, Value]] = [
            {"Status": self.status_ids["In repair"]},
            {"Cost": "1499.00", "Encrypted": "false"},
            {"Owner": people[2].key},
            {"Status": self.status_ids["Active"], "Purchase date": None},
            {"Location": None},
            {"Location": offices[0].key},
        ]
        for values in changes:
            self.update("Laptop", edited, values)
        for laptop in _spread(laptops[2:], EDITS_PER_KIND):
            self.update("Laptop", laptop, {"Status": self.status_ids["In repair"]})
            self.update("Laptop", laptop, {"Status": self.status_ids["Active"], "Cost": "999.95"})
        for laptop in _spread(laptops[2:], EDITS_PER_KIND, offset=1):
            self.update("Laptop", laptop, {"Owner": people[self.random.randrange(len(people))].key})
        for laptop in _spread(laptops[2:], EDITS_PER_KIND, offset=2):
            self.update(
                "Laptop", laptop, {"Status": self.status_ids["Retired"], "Owner": None, "Location": None}
            )
        for server in _spread(self.objects["Server"][3:], EDITS_PER_KIND):
            self.update("Server", server, {"OS": "Ubuntu 24.04", "Last patched": _iso(self.now)})

    def edit_applications(self) -> None:
        for application in _spread(self.objects["Application"], EDITS_PER_KIND):
            self.update("Application", application, {"Notes": None, "Support group": "it-ops"})
        servers = self.objects["Server"]
        # Apps move to another server (leaving the old server's Runs stale, as in real CMDBs), but not the
        # first four: the first servers keep a matching Runs / Runs on pair that tests can follow.
        for application in _spread(self.objects["Application"][4:], EDITS_PER_KIND, offset=1):
            self.update("Application", application, {"Runs on": servers[-1].key, "Version": "13.0.0"})

    def add_comments(self) -> None:
        """Comment on a spread of objects, in every role, by several users."""
        targets = [
            target
            for type_name in ("Person", "Laptop", "Server", "Application")
            for target in _spread(self.objects[type_name], COMMENTED_PER_TYPE)
        ]
        for index, target in enumerate(targets):
            for repeat in range(1 + index % 3):
                text = self.random.choice(_COMMENTS).format(
                    year=2020 + self.random.randint(0, 5), name=self.random.choice(self.user_names)
                )
                self.site.add_comment(
                    {"comment": text, "objectId": target.id, "role": (index + repeat) % 4},
                    actor=self.users[(index + repeat) % len(self.users)],
                    at=self.tick(self.random.randint(1, 300)),
                )
                self.comments[target.id] += 1

    def add_tickets(self) -> None:
        """Connect Jira issues (ITSM-101, ITSM-102, ...) to a spread of servers, applications and laptops."""
        targets = [
            target
            for type_name in ("Server", "Application", "Laptop")
            for target in _spread(self.objects[type_name], TICKETED_PER_TYPE, offset=1)
        ]
        for index, target in enumerate(targets):
            for _ in range(1 + index % 2):
                number = 101 + self.tickets.total()
                kind, priority = _TICKET_TYPES[number % len(_TICKET_TYPES)]
                status, colour = _TICKET_STATUSES[number % len(_TICKET_STATUSES)]
                created = self.tick(self.random.randint(10, 2000))
                self.site.add_connected_ticket(
                    target.id,
                    {
                        "key": f"ITSM-{number}",
                        "id": str(10000 + number),
                        "title": f"{kind}: {target.label}",
                        "status": {"name": status, "colorName": colour},
                        "type": {"name": kind},
                        "priority": {"name": priority},
                        "created": _iso(created),
                        "updated": _iso(created + timedelta(hours=number % 48)),
                        "reporter": self.users[number % len(self.users)],
                    },
                )
                self.tickets[target.id] += 1

    def delete_some(self) -> None:
        """Delete two edited laptops: their history goes with them."""
        laptops = self.objects["Laptop"]
        for laptop in _spread(laptops[2:], EDITS_PER_KIND)[-2:]:
            self.site.delete_object(laptop.id, actor=self.users[0], at=self.tick(30))
            laptops.remove(laptop)
            self.deleted.append(laptop)
            del self.comments[laptop.id], self.tickets[laptop.id]

    def summary(self) -> SeedSummary:
        type_counts = {name: len(self.objects.get(name, [])) for name in self.type_ids}
        object_counts = dict.fromkeys(self.schema_ids, 0)
        for name, count in type_counts.items():
            object_counts[self.schema_of_type[name]] += count
        laptops, servers = self.objects["Laptop"], self.objects["Server"]
        ticketed = _spread(servers, TICKETED_PER_TYPE, offset=1)[0]
        return SeedSummary(
            schema_ids=dict(self.schema_ids),
            object_counts=object_counts,
            type_counts=type_counts,
            type_ids=dict(self.type_ids),
            total_objects=sum(type_counts.values()),
            users=tuple(self.users),
            groups=_GROUPS,
            updates=self.updates,
            comments=self.comments.total(),
            tickets=self.tickets.total(),
            person_with_manager=self.objects["Person"][1].key,
            cycle_keys=tuple(server.key for server in servers[:3]),
            edited_key=laptops[1].key,
            commented_key=_spread(self.objects["Person"], COMMENTED_PER_TYPE)[0].key,
            ticketed_key=ticketed.key,
            deleted_keys=tuple(laptop.key for laptop in self.deleted),
        )
