"""Every name the API server accepts for a TrainingJob is accepted by the model and gives valid,
distinct derived names."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from pricewise.api.models import ObjectMeta
from pricewise.api.naming import job_label, service_name, worker_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([a-z0-9A-Z]([-a-z0-9A-Z_.]{0,61}[a-z0-9A-Z])?)?$")

ACCEPTED = [
    "my.job",
    "my-job",
    "myjob",
    "9lives",
    "9.lives",
    "a.b.c",
    "x" * 253,
    ".".join(["y" * 63] * 3) + ".zz",  # 253 characters
    "e" * 54 + ".f" + "g" * 10,  # a dot where a long name is cut
]


@pytest.mark.parametrize("name", ACCEPTED)
def test_a_dns_subdomain_name_is_accepted_and_its_derived_names_are_valid(name: str) -> None:
    assert ObjectMeta(name=name).name == name
    assert LABEL_VALUE.match(job_label(name))
    assert DNS_1035.match(service_name(name))
    for index in (0, 1023):
        assert DNS_LABEL.match(worker_name(name, index))


@pytest.mark.parametrize(
    "name", ["My.job", "my..job", ".job", "job.", "my_job", "-job", "job-.x", "x" * 254]
)
def test_a_name_the_api_server_refuses_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        ObjectMeta(name=name)


def test_derived_names_never_collide_and_existing_ones_do_not_change() -> None:
    names = [*ACCEPTED, "my-job-" + "0" * 8, "a-b-c", "a.b-c", "a-b.c"]
    for derive in (job_label, service_name, lambda n: worker_name(n, 0)):
        derived = [derive(n) for n in names]
        assert len(set(derived)) == len(names), derived
    # Names without dots keep the names they had, so running jobs still find their workers.
    assert (service_name("my-job"), worker_name("my-job", 1)) == ("my-job", "my-job-worker-1")
    assert service_name("9lives") == "tj-9lives"
    # Stable across processes: the hash is of the name, not Python's salted hash().
    assert service_name("my.job") == "my-job-bc373230"
