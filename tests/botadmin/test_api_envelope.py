import json


def test_an_unknown_api_path_answers_in_the_errcode_envelope(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.json()["errcode"] == 7000404
    assert "errmsg" in response.json()


def test_a_post_to_an_unknown_api_path_is_not_a_csrf_page(client):
    client = type(client)(enforce_csrf_checks=True)
    response = client.post("/api/nothing", data=b"{}", content_type="application/json")
    assert response.status_code == 404 and response.json()["errcode"] == 7000404


def test_openapi_and_docs_are_served_without_external_cdns(client):
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200
    assert json.loads(spec.content)["info"]["title"] == "botadmin API"
    docs = client.get("/api/docs").content.decode()
    assert "swagger" in docs.lower()
    assert "cdn.jsdelivr" not in docs and "unpkg.com" not in docs


def test_healthz(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
