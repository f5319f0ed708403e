from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from telemed.accounts.views import add_service_errors
from telemed.audit.models import AuditAction
from telemed.boxes.services import document_opened
from telemed.boxes.views import document_file_response
from telemed.care.selectors import linked_patients
from telemed.lib.text import clean_search_text
from telemed.messaging import selectors, services
from telemed.messaging.forms import IntramedForm, PatientConversationForm, ReplyForm
from telemed.messaging.models import ConversationKind
from telemed.notifications.services import notification_mark_read_for_url


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    query = clean_search_text(request.GET.get("q", ""))
    context = {"query": query}
    if query:
        context["results"] = Paginator(selectors.message_search(request.user, query), 30).get_page(
            request.GET.get("page")
        )
    else:
        context["page"] = Paginator(selectors.conversations_for(request.user), 30).get_page(request.GET.get("page"))
    return render(request, "messaging/inbox.html", context)


@login_required
def sent(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.messages_sent_by(request.user), 30).get_page(request.GET.get("page"))
    return render(request, "messaging/sent.html", {"page": page})


@login_required
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = selectors.conversation_get_for_user(request.user, conversation_id)
    form = ReplyForm(
        request.POST or None,
        attachable=selectors.attachable_documents(request.user),
        studies=selectors.attachable_studies(request.user, conversation),
    )
    if request.method == "POST" and form.is_valid():
        study_ids, deidentified = form.cleaned_studies()
        try:
            services.message_send(
                actor=request.user,
                conversation=conversation,
                text=form.cleaned_data["text"],
                document_ids=form.cleaned_data["documents"],
                study_ids=study_ids,
                deidentified=deidentified,
                client_key=form.cleaned_data["key"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except PermissionDenied:
            form.add_error(None, _("You cannot write in this conversation."))
        else:
            return redirect("messaging:conversation", conversation.pk)
    before = request.GET.get("before", "")
    history = selectors.messages_page(
        conversation, viewer=request.user, before_id=int(before) if before.isdigit() else None
    )
    if history and not before:
        services.conversation_mark_read(actor=request.user, conversation=conversation, up_to_message_id=history[-1].pk)
        notification_mark_read_for_url(actor=request.user, url=request.path)
    positions = selectors.read_positions(conversation)
    others = selectors.other_participants(conversation, request.user)
    # "user:position" pairs of the others, for the page's read receipts.
    read_positions = ",".join(f"{u.pk}:{positions.get(u.pk, 0)}" for u in others)
    return render(
        request,
        "messaging/conversation.html",
        {
            "conversation": conversation,
            "history": history,
            "older": history[0].pk if len(history) == selectors.PAGE_SIZE else None,
            "others": others,
            "read_positions": read_positions,
            "form": form,
            "can_toggle_replies": request.user.is_doctor and conversation.kind == ConversationKind.DOCTOR_PATIENT,
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def toggle_replies(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = selectors.conversation_get_for_user(request.user, conversation_id)
    services.conversation_set_replies(
        actor=request.user, conversation=conversation, allowed=request.POST.get("allowed") == "1"
    )
    return redirect("messaging:conversation", conversation.pk)


@login_required
def new_to_patient(request: HttpRequest) -> HttpResponse:
    if not request.user.is_doctor:
        raise PermissionDenied
    form = PatientConversationForm(
        request.POST or None,
        patients=linked_patients(request.user),
        attachable=selectors.attachable_documents(request.user),
        initial={"patient": request.GET.get("patient")},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            conversation = services.conversation_start_with_patient(
                actor=request.user,
                patient=data["patient"],
                text=data["text"],
                subject=data["subject"],
                allow_replies=data["allow_replies"],
                document_ids=data["documents"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            flash.success(request, _("Message sent."))
            return redirect("messaging:conversation", conversation.pk)
    return render(request, "messaging/new_to_patient.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def new_intramed(request: HttpRequest) -> HttpResponse:
    """Write to colleagues: those one writes to and of one's structure are offered, any registered
    doctor is found by (part of) the name; tick, write."""
    if not request.user.is_doctor:
        raise PermissionDenied
    colleagues = selectors.colleagues(request.user)
    query = clean_search_text(request.GET.get("q", ""))
    chosen = [int(i) for i in request.POST.getlist("doctors") + request.GET.getlist("to") if str(i).isdigit()]
    # The checkboxes offered, in groups, each colleague once: those already chosen, the search's
    # results, the colleagues one writes to, those of one's structure.
    groups = [
        (_("Chosen"), list(colleagues.filter(pk__in=chosen).order_by("last_name"))),
        (_("Found"), selectors.colleague_search(request.user, query) if query else []),
        (_("Colleagues you write to"), selectors.colleagues_written_to(request.user)),
        (_("Your health structure"), selectors.colleagues_of_structure(request.user)),
    ]
    seen: set[int] = set()
    choices = []
    for label, doctors in groups:
        fresh = [d for d in doctors if d.pk not in seen]
        seen.update(d.pk for d in fresh)
        if fresh:
            choices.append((label, [(d.pk, d.display_name) for d in fresh]))
    form = IntramedForm(
        request.POST or None,
        doctors=colleagues,
        attachable=selectors.attachable_documents(request.user),
        studies=selectors.attachable_studies(request.user),
        initial={"doctors": chosen},
    )
    form.fields["doctors"].widget.choices = choices
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        study_ids, deidentified = form.cleaned_studies()
        try:
            conversation = services.conversation_start_intramed(
                actor=request.user,
                doctors=list(data["doctors"]),
                text=data["text"],
                subject=data["subject"],
                document_ids=data["documents"],
                study_ids=study_ids,
                deidentified=deidentified,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            flash.success(request, _("Message sent."))
            return redirect("messaging:conversation", conversation.pk)
    context = {"form": form, "query": query, "nothing_found": bool(query) and not groups[1][1]}
    return render(request, "messaging/new_intramed.html", context, status=400 if form.errors else 200)


@login_required
@never_cache
def attachment(request: HttpRequest, attachment_id: int) -> HttpResponse:
    document = selectors.attachment_file_for_user(request.user, attachment_id)
    document_opened(actor=request.user, document=document, action=AuditAction.DOWNLOAD, request=request)
    return document_file_response(document, inline=False)
