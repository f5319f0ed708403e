"""Welbox and Medbox documents through the API: the person's own box a page at a time, what
patients shared with a doctor, one document and its download. The same selectors as the box
pages; every opening is in the patient's access log, as from the pages (``document_opened``)."""

import datetime

from django.http import HttpRequest
from django.urls import reverse
from ninja import Router, Schema

from telemed.api.auth import access, scoped
from telemed.api.errors import ERRORS, FILE_CONTENT
from telemed.api.paging import PageInfo, page_of
from telemed.api.params import object_id
from telemed.audit.models import AuditAction
from telemed.boxes import selectors
from telemed.boxes.models import Category
from telemed.boxes.services import document_opened
from telemed.boxes.views import document_file_response
from telemed.lib.text import clean_search_text

router = Router(tags=["documents"])

PAGE_SIZE = 50


class Document(Schema):
    id: int
    name: str
    category: str
    category_label: str
    size: int
    mime: str
    created_at: datetime.datetime
    owner_id: int
    download_url: str


class DocumentPage(PageInfo):
    items: list[Document]


def _document(request: HttpRequest, document) -> dict:
    return {
        "id": document.pk,
        "name": document.name,
        "category": document.category,
        "category_label": str(Category(document.category).label)
        if document.category in Category.values
        else document.category,
        "size": document.size,
        "mime": document.mime,
        "created_at": document.created_at,
        "owner_id": document.box.owner_id,
        "download_url": request.build_absolute_uri(reverse("api-v1:document_download", args=[document.pk])),
    }


@router.get(
    "/documents",
    response={200: DocumentPage, **ERRORS},
    auth=access("documents:read"),
    openapi_extra=scoped("documents:read"),
    summary="List documents",
)
def documents_list(request: HttpRequest, page: str = "", q: str = "", category: str = "", shared: bool = False):
    """The person's own box (Welbox or Medbox), newest first; ``shared=true``: for a doctor, the
    documents patients shared with them. ``q`` searches the names, ``category`` filters."""
    filters = {
        "query": clean_search_text(q, 100) or None,
        "category": category if category in Category.values else None,
    }
    if shared:
        documents = selectors.documents_shared_with(request.user, **filters)
    else:
        documents = selectors.document_list_for_user(request.user, **filters).order_by("-created_at", "-pk")
    info, items = page_of(documents, page, PAGE_SIZE)
    return {**info.dict(), "items": [_document(request, document) for document in items]}


@router.get(
    "/documents/{document_id}",
    response={200: Document, **ERRORS},
    auth=access("documents:read"),
    openapi_extra=scoped("documents:read"),
    summary="Read a document's details",
)
def document_detail(request: HttpRequest, document_id: int = object_id()):
    document = selectors.document_get_for_user(request.user, document_id)
    # A document's name may say what it is about: its reading is logged like a preview's.
    document_opened(actor=request.user, document=document, action=AuditAction.VIEW, request=request)
    return _document(request, document)


@router.get(
    "/documents/{document_id}/download",
    response=ERRORS,
    auth=access("documents:read"),
    url_name="document_download",
    summary="Download a document",
    openapi_extra=scoped("documents:read", responses={"200": {"description": "The file", "content": FILE_CONTENT}}),
)
def document_download(request: HttpRequest, document_id: int = object_id()):
    document = selectors.document_get_for_user(request.user, document_id)
    document_opened(actor=request.user, document=document, action=AuditAction.DOWNLOAD, request=request)
    return document_file_response(document, inline=False)
